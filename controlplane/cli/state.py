"""``lightning-ctl state``: the app's state (the ``pretty_state`` view, or the full state), once or as it changes."""

from __future__ import annotations

import click

from lightning_ctl.controlplane.cli.config import (
    EXIT_CODES_HELP,
    CliConfig,
    call_app,
    echo,
    operating_command,
)
from lightning_ctl.controlplane.cli.render import dumps, flatten_state, format_time, iso_time, state_changes


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.option(
    "--full", is_flag=True, help="The whole state (calls, statuses, structures), not the pretty_state view."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='One line of JSON (with --watch: one {"time", "state"} object per change).',
)
@click.option(
    "--watch", "-w", is_flag=True, help="Then print each change as it happens, until the app ends or Ctrl-C."
)
@click.option(
    "--interval",
    type=click.FloatRange(0.05, 60),
    default=0.2,
    show_default=True,
    metavar="SECONDS",
    help="With --watch: how often the control plane looks for changes.",
)
@operating_command
def state(config: CliConfig, full: bool, as_json: bool, watch: bool, interval: float) -> None:
    """Print the app's state: public attributes of every flow and work, and the app's stage.

    With --watch, the state is printed first, then one line per changed value (`root.counter.count: 3 -> 4`),
    prefixed by the time it was seen.

    \b
    Examples:
      lightning-ctl state
      lightning-ctl state --full --json | jq .works
      lightning-ctl state --watch
    """
    if not watch:
        document = call_app(config, lambda client: client.state(full))
        echo(dumps(document, pretty=not as_json))
        return

    async def follow(client) -> None:  # noqa: ANN001 - AppClient, imported lazily
        previous = None
        async for seen_at, document in client.watch_state(full, interval):
            if as_json:
                echo(dumps({"time": seen_at, "time_iso": iso_time(seen_at), "state": document}, pretty=False))
                continue
            flat = flatten_state(document, pretty=not full)
            if previous is None:
                echo(dumps(document))
            else:
                stamp = format_time(seen_at)
                for change in state_changes(previous, flat):
                    echo(f"{stamp}  {change}")
            previous = flat

    call_app(config, follow)
    click.echo("the app has ended", err=True)
