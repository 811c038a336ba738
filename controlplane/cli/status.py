"""``lightning-ctl status``: the app's stage, each work's status and placement, and the agents."""

from __future__ import annotations

import click

from lightning_ctl.controlplane.cli.config import (
    EXIT_CODES_HELP,
    CliConfig,
    CliError,
    call_app,
    complete_work_names,
    echo,
    operating_command,
)
from lightning_ctl.controlplane.cli.render import dumps, status_json, status_text
from lightning_ctl.sdk._exit_codes import ExitCode


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.argument("works", nargs=-1, metavar="[WORK]...", shell_complete=complete_work_names)
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json"]), default="table", show_default=True,
              help="table: one line per work, messages cut to fit (and said so); wide: every message whole; "
                   "json: one JSON document (for scripts).")
@click.option("--json", "as_json", is_flag=True, help="The same as -o json.")
@operating_command
def status(config: CliConfig, works: tuple[str, ...], output: str, as_json: bool) -> None:
    """Show the app's stage, its works and the agents.

    Per work: status, reason, agent, pid, start time, restarts, GPUs and the first line of its message (a pending
    reason, a failure; -o wide shows messages whole). Per agent: host, CPUs, memory and GPUs held by works out of its total, and its last
    heartbeat. WORK (a full name like root.trainer, or an unambiguous suffix like trainer) limits the works shown.

    \b
    Examples:
      lightning-ctl status
      lightning-ctl status trainer
      lightning-ctl status -o wide
      lightning-ctl status --json | jq '.works[] | select(.status == "failed") | .name'
    """
    from lightning_ctl.controlplane.api.names import WorkNameError, resolve_work_names

    app = call_app(config, lambda client: client.status())
    if works:
        try:
            wanted = set(resolve_work_names(works, [w.work_name for w in app.works]))
        except WorkNameError as exc:
            raise CliError(str(exc), ExitCode.USAGE) from None
        app = type(app)(
            app.stage, app.app_path, app.pid, tuple(w for w in app.works if w.work_name in wanted), app.agents
        )
    output = "json" if as_json else output
    echo(dumps(status_json(app)) if output == "json" else status_text(app, wide=output == "wide"))
