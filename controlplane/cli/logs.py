"""``lightning-ctl logs``: works' output, from what the control plane keeps and then live."""

from __future__ import annotations

import re
import sys
import time
from typing import Callable

import click

from lightning_ctl.controlplane.api.app_view import LogBatch
from lightning_ctl.controlplane.cli.config import (
    EXIT_CODES_HELP,
    CliConfig,
    CliError,
    call_app,
    complete_work_names,
    is_app_running,
    operating_command,
)
from lightning_ctl.controlplane.cli.render import dropped_text, dumps, log_line_json, log_line_text
from lightning_ctl.sdk._exit_codes import ExitCode

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in a duration such as "90", "90s", "1.5m", "2h", "1d" or "1h30m".

    Raises:
        ValueError: ``text`` is not a duration.
    """
    text = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if not text or not re.fullmatch(r"(?:\d+(?:\.\d+)?[smhd])+", text):
        raise ValueError(f"expected a duration such as 30s, 5m, 1h30m or 2d, got {text!r}")
    return sum(float(amount) * _UNIT_S[unit] for amount, unit in _DURATION_PART.findall(text))


class Duration(click.ParamType):
    """A click parameter for durations (seconds as a float)."""

    name = "DURATION"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """Seconds from a number or a text such as ``90s``, ``5m`` or ``1h30m``."""
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.argument("works", nargs=-1, metavar="[WORK]...", shell_complete=complete_work_names)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the app ends (or Ctrl-C).")
@click.option(
    "--tail",
    type=click.IntRange(min=0),
    default=None,
    metavar="N",
    help="Start with only the last N lines (of the chosen works together).",
)
@click.option(
    "--since", type=Duration(), default=None, help="Only lines from this long ago on, e.g. 30s, 5m, 1h30m."
)
@click.option(
    "-t", "--timestamps", is_flag=True, help="Prefix each line with the time it was received (UTC)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line: work, time, stream, text.")
@click.option("--app", "app_file", type=click.Path(dir_okay=False), default=None, metavar="APP_FILE",
              help="With no app running: whose output to read from the local agent's files (default: the app run "
                   "last on this machine).")
@operating_command
def logs(
    config: CliConfig,
    works: tuple[str, ...],
    follow: bool,
    tail: int | None,
    since: float | None,
    timestamps: bool,
    as_json: bool,
    app_file: str | None,
) -> None:
    """Print what works wrote to stdout and stderr, as `root.w | line`.

    WORK is a full name (root.trainer) or an unambiguous suffix of one (trainer); with none, every work. The
    control plane keeps each work's last 10,000 lines (8 MiB); the agent running a work also keeps its output in
    rotated files, <agent home>/logs/<work>/<attempt>.log (10 MiB x 5); the local agent's home is the app's folder
    ~/.lightning-ctl/apps/<digest>/local. When no app is running here, logs reads those files for the app run last
    (or --app APP_FILE): the output of works that ran on the local agent. Control characters are shown escaped
    (\\x1b...), colours kept; a reader too slow for the output is told how many lines it missed.

    \b
    Examples:
      lightning-ctl logs
      lightning-ctl logs trainer --tail 100 -f
      lightning-ctl logs --since 5m --json | jq -r .text
      lightning-ctl logs --app train.py          # after the app ended
    """
    since_epoch = time.time() - since if since is not None else None
    out = sys.stdout

    def write(batch: LogBatch) -> None:
        chunks = []
        if batch.dropped:
            chunks.append(dumps({"dropped": batch.dropped}, pretty=False) if as_json else dropped_text(batch.dropped))
        if as_json:
            chunks.extend(dumps(log_line_json(line), pretty=False) for line in batch.lines)
        else:
            chunks.extend(log_line_text(line, timestamps) for line in batch.lines)
        if chunks:
            out.write("\n".join(chunks) + "\n")
            out.flush()

    if not config.address and not is_app_running(config):
        _past_logs(app_file, works, tail, since_epoch, write)
        return

    async def stream(client) -> None:  # noqa: ANN001 - AppClient, imported lazily
        async for batch in client.logs(works, tail, since_epoch, follow):
            write(batch)

    call_app(config, stream)
    if follow:
        click.echo("the app has ended", err=True)


def _past_logs(app_file: str | None, works: tuple[str, ...], tail: int | None, since: float | None,
               write: Callable[[LogBatch], None]) -> None:
    """Print an ended app's output from its local agent's files (what stays on this machine)."""
    from lightning_ctl.controlplane.api.names import WorkNameError
    from lightning_ctl.controlplane.output.past_logs import (
        NoPastRunError,
        describe,
        last_run,
        read_past_lines,
    )

    try:
        run = last_run(app_file)
        lines = read_past_lines(run, works, tail, since)
    except NoPastRunError as exc:
        raise CliError(str(exc), ExitCode.UNREACHABLE) from None
    except WorkNameError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None
    click.echo(describe(run), err=True)
    write(LogBatch(tuple(lines)))
