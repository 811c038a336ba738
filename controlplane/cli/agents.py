"""``lightning-ctl agents``: the connected agents, their state and resources."""

from __future__ import annotations

import click

from lightning_ctl.controlplane.cli.config import (
    EXIT_CODES_HELP,
    CliConfig,
    call_app,
    echo,
    operating_command,
)
from lightning_ctl.controlplane.cli.render import agent_json, agents_table, dumps


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
@operating_command
def agents(config: CliConfig, as_json: bool) -> None:
    """List the agents connected to the app: state, resources and works.

    CPUS, MEMORY and GPUS show what the works placed on an agent hold out of what it offers; an agent is
    "silent" once a heartbeat is overdue (it is disconnected after three). With ``run --provider``, the agents
    requested from the engine are listed too, with their REQUEST (engine, job id, what it asks for and for
    which work) and, until they join, their state (submitting, queued, starting; released, lost or failed once
    over) and the engine's reason (e.g. Slurm's Priority or Resources).

    \b
    Examples:
      lightning-ctl agents
      lightning-ctl agents --json | jq '.[] | {name, gpus}'
    """
    found = call_app(config, lambda client: client.agents())
    if as_json:
        echo(dumps([agent_json(a) for a in found]))
    else:
        echo(agents_table(found) if found else "(no agents connected)")
