"""``lightning-ctl agents``: the connected agents, and how agents join or are shut out.

``agents join-token`` lets a new one join, ``agents revoke`` shuts one out.
"""

from __future__ import annotations

import json

import click

from lightning_ctl.controlplane.cli.config import (
    EXIT_CODES_HELP,
    CliConfig,
    call_app,
    echo,
    operating_command,
)
from lightning_ctl.controlplane.cli.logs import Duration
from lightning_ctl.controlplane.cli.render import agent_json, agents_table, dumps
from lightning_ctl.protos.limits import MAX_LABELS
from lightning_ctl.sdk._cli_values import parse_labels

_SETTINGS = {"help_option_names": ["-h", "--help"]}


@click.group(invoke_without_command=True, context_settings=_SETTINGS, epilog=EXIT_CODES_HELP)
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
      LIGHTNING_AGENT_JOIN_TOKEN=$(lightning-ctl agents join-token) lightning-agent --control-plane HOST:PORT
      lightning-ctl agents revoke gpu-node-3
    """
    if click.get_current_context().invoked_subcommand is not None:
        return
    found = call_app(config, lambda client: client.agents())
    if as_json:
        echo(dumps([agent_json(a) for a in found]))
    else:
        echo(agents_table(found) if found else "(no agents connected)")


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    try:
        return parse_labels(values, MAX_LABELS)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--labels") from None


@agents.command("join-token", context_settings=_SETTINGS, epilog=EXIT_CODES_HELP)
@click.option("--ttl", "ttl_s", type=Duration(), default=3600.0, show_default=True,
              help="How long it stays valid, e.g. 10m, 1h, 2d.")
@click.option("--uses", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many agents may join with it.")
@click.option("--name", "agent_name", default="", help="Only an agent with this --name may join with it.")
@click.option("--labels", multiple=True, metavar="KEY=VALUE", help="Labels the joining agent gets (repeatable).")
@click.option("--scope", default="", help="Free text kept with the agent's credential (e.g. a request id).")
@click.option("--json", "as_json", is_flag=True, help="Print token, id and expiry as JSON.")
@operating_command
def join_token(config: CliConfig, ttl_s: float, uses: int, agent_name: str, labels: tuple[str, ...], scope: str,
               as_json: bool) -> None:
    """Print a join token: what a new agent presents once to register and get its own credential.

    The token alone goes to stdout; the agent keeps its credential in its state dir afterwards, so the token is
    needed only for the first connection. Only the operator's token can ask for one.

    \b
    Examples:
      LIGHTNING_AGENT_JOIN_TOKEN=$(lightning-ctl agents join-token) lightning-agent --control-plane HOST:PORT
      lightning-ctl agents join-token --uses 8 --ttl 1d --labels zone=a
    """
    if not ttl_s > 0:
        raise click.BadParameter("must be longer than 0", param_hint="--ttl")
    issued = call_app(config, lambda client: client.issue_join_token(ttl_s, uses, agent_name, _labels(labels), scope))
    if as_json:
        echo(json.dumps({"token": issued.token, "token_id": issued.token_id, "expires_at": issued.expires_at}))
        return
    echo(issued.token)
    click.echo(f"join token {issued.token_id}: {uses} use(s), valid {ttl_s:g} s", err=True)


@agents.command(context_settings=_SETTINGS, epilog=EXIT_CODES_HELP)
@click.argument("agent", metavar="AGENT")
@operating_command
def revoke(config: CliConfig, agent: str) -> None:
    """Revoke the credential of AGENT (its name or id): its stream ends now and it cannot come back.

    Its works count as disconnected (failed or restarted elsewhere after --agent-lost-grace). To let the machine
    join again, give it a new join token and a fresh state dir (a new identity).
    """
    revoked = call_app(config, lambda client: client.revoke_agent(agent))
    state = "its stream was closed" if revoked.was_connected else "it was not connected"
    click.echo(f"revoked agent {revoked.name} ({revoked.agent_id}); {state}", err=True)
