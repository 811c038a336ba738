"""``lightning-agent``: run works on this machine for a control plane.

Exit codes: 0 stopped cleanly; 1 it could not start (another agent runs under the same name) or was refused for
another reason (another protocol version); 2 usage error; 4 the control plane refused the agent's credential or
join token.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path

import click
import structlog

from lightning_ctl.agent.errors import AgentHomeInUseError
from lightning_ctl.agent.home import claim_home
from lightning_ctl.agent.launcher import ZygoteLauncher
from lightning_ctl.agent.ports import PortRange, ServingOptions
from lightning_ctl.agent.runner.orphans import OrphanSettings
from lightning_ctl.protos.limits import MAX_LABELS
from lightning_ctl.sdk._cli_values import CREDENTIAL_VARIABLES, parse_labels
from lightning_ctl.sdk._files import raise_open_files_limit, read_or_create
from lightning_ctl.sdk._logging import configure_logging, protect_standard_streams, quiet_grpc_core
from lightning_ctl.sdk._sizes import parse_size

log = structlog.get_logger(component="agent")

def _labels(values: tuple[str, ...]) -> dict[str, str]:
    try:
        return parse_labels(values, MAX_LABELS)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--labels") from None


def _tls(ca: str | None, cert: str | None, key: str | None) -> tuple[bytes | None, bytes | None, bytes | None] | None:
    """The (CA, key, certificate) PEM bytes to connect with TLS, or None for a plain connection."""
    if bool(cert) != bool(key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if not (ca or cert):
        return None
    ca_pem, key_pem, cert_pem = (Path(p).read_bytes() if p else None for p in (ca, key, cert))
    return ca_pem, key_pem, cert_pem


def _serving(port_range: str | None, advertise_address: str | None) -> ServingOptions:
    """The --ports and --advertise-address options, checked."""
    try:
        ports = PortRange.parse(port_range) if port_range else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--ports") from None
    if advertise_address is not None and not advertise_address.strip():
        raise click.BadParameter("an empty address", param_hint="--advertise-address")
    return ServingOptions(advertise_address.strip() if advertise_address else None, ports)


def _persistent_agent_id(home: Path) -> str:
    """This agent's identity, kept in its home so that it survives restarts."""
    return read_or_create(home / "agent-id", lambda: uuid.uuid4().hex)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "LIGHTNING_AGENT"})
@click.option("--control-plane", "address", default=None, metavar="HOST:PORT", help="Where the control plane listens.")
@click.option("--control-plane-fd", "address_fd", type=int, default=None, hidden=True,
              help="Read HOST:PORT from this pipe (used by lightning-ctl for its local agent).")
@click.option("--preload-app", type=click.Path(dir_okay=False), default=None, hidden=True,
              help="Load this app in the fork server right away (used for the local agent).")
@click.option("--join-token", envvar="LIGHTNING_AGENT_JOIN_TOKEN", default="", show_envvar=True,
              help="Register with this join token the first time (`lightning-ctl agents join-token` issues one); "
                   "the agent then keeps its own credential in its state dir.")
@click.option("--name", default=None,
              help="Agent name shown by the control plane, and its identity in --state-dir (default: the hostname, "
                   "or hostname-2, -3... when agents already run under it on this machine).")
@click.option("--labels", multiple=True, metavar="KEY=VALUE", help="Labels works can ask for (repeatable).")
@click.option("--work-dir", type=click.Path(file_okay=False), default=None, help="Where works run: code bundles from the control plane unpack here (default: the agent's state dir).")
@click.option("--gpus", default="all", show_default=True, help="GPUs to offer: all, none, or indices like 0,2.")
@click.option("--cpus", type=click.FloatRange(min=0, min_open=True), default=None,
              help="CPUs to offer (default: all).")
@click.option("--memory", default=None, help="Memory to offer, e.g. 16Gi (default: all).")
@click.option("--stop-grace", type=float, default=30.0, show_default=True, help="Seconds before SIGKILL on stop.")
@click.option("--ports", "port_range", default=None, metavar="FIRST-LAST",
              help="The ports this agent gives its works (each work holds one while its process runs), e.g. "
                   "30000-30999 to open in a firewall (default: any free port).")
@click.option("--advertise-address", default=None, metavar="ADDRESS",
              help="Where other machines reach this agent's works: their internal_ip and url (default: the address "
                   "this machine reaches the control plane from). Works asking to bind loopback bind it instead.")
@click.option("--tls-ca", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Connect with TLS, trusting this CA (PEM) for the control plane's certificate.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), default=None,
              help="This agent's certificate (PEM), for control planes that require mutual TLS.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), default=None, help="Its private key (PEM).")
@click.option("--stop-works-on-exit", is_flag=True,
              help="Stop the works (and report how they ended) when this agent is stopped, as an agent whose machine "
                   "goes away with it must: a Slurm job, a Kubernetes Pod (providers start agents so).")
@click.option("--no-fork-server", is_flag=True, help="Start each work with a fresh interpreter instead of forking it.")
@click.option("--no-cgroups", is_flag=True,
              help="Do not give each work a cgroup (v2) of its own; find its processes by their environment and "
                   "ancestry instead (the default where cgroups cannot be made).")
@click.option("--parent-pid", type=int, default=None, hidden=True,
              help="A local agent: the lightning-ctl that started it (see --orphan-timeout).")
@click.option("--orphan-timeout", type=click.FloatRange(min=0), default=300.0, show_default=True,
              help="Seconds works keep running without their agent (its fork server then stops them) or, for a "
                   "local agent, without their lightning-ctl (the agent then stops them).")
@click.option("--control-plane-file", "address_file", type=click.Path(dir_okay=False), default=None, hidden=True,
              help="Follow the control plane's address written in this file (it moves when it restarts).")
@click.option("--local", "is_local", is_flag=True, hidden=True,
              help="This agent shares the control plane's files (lightning-ctl's own local agent).")
@click.option("--state-dir", type=click.Path(file_okay=False), default=str(Path.home() / ".lightning-agent"),
              show_default=True, help="Where the agent keeps its identity across restarts.")
@click.option("--log-format", type=click.Choice(["console", "json"]), default="console", show_default=True)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
@click.version_option(package_name="lightning-ctl")
def main(
    address: str | None,
    address_fd: int | None,
    preload_app: str | None,
    join_token: str,
    name: str | None,
    labels: tuple[str, ...],
    work_dir: str | None,
    gpus: str,
    cpus: float | None,
    memory: str | None,
    stop_grace: float,
    port_range: str | None,
    advertise_address: str | None,
    tls_ca: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    stop_works_on_exit: bool,
    no_fork_server: bool,
    no_cgroups: bool,
    parent_pid: int | None,
    orphan_timeout: float,
    address_file: str | None,
    is_local: bool,
    state_dir: str,
    log_format: str,
    log_level: str,
) -> None:
    """Run works on this machine for the control plane at HOST:PORT.

    Exit codes: 0 stopped cleanly, 1 could not start (another agent runs under the same --state-dir and --name) or
    refused for another reason (another protocol version), 2 usage error, 4 the control plane refused the agent's
    credential or join token.

    \b
    Shell completion of options:
      bash: eval "$(_LIGHTNING_AGENT_COMPLETE=bash_source lightning-agent)"
      zsh:  eval "$(_LIGHTNING_AGENT_COMPLETE=zsh_source lightning-agent)"
      fish: _LIGHTNING_AGENT_COMPLETE=fish_source lightning-agent | source
    """
    if (address is None) == (address_fd is None):
        raise click.UsageError("give --control-plane HOST:PORT")
    serving = _serving(port_range, advertise_address)
    for variable in CREDENTIAL_VARIABLES:  # once read, and before anything starts a process (the fork server)
        os.environ.pop(variable, None)
    try:
        home = claim_home(state_dir, name, socket.gethostname())
    except AgentHomeInUseError as exc:
        raise click.ClickException(str(exc)) from None
    if address_fd is None and not join_token and not home.load_credential():
        raise click.UsageError("this agent has not joined yet: give --join-token (or LIGHTNING_AGENT_JOIN_TOKEN); "
                               "`lightning-ctl agents join-token` on the control plane's machine issues one")
    launcher = ZygoteLauncher(str(home.exits_dir), OrphanSettings(orphan_timeout, stop_grace, str(home.pid_file),
                                                                  log_format))
    if not no_fork_server:
        launcher.prestart(preload_app)  # first, so the fork server's start overlaps ours
    protect_standard_streams()
    configure_logging(log_format, log_level)
    raise_open_files_limit()  # hundreds of works: a socket and two capture files each
    if not name and home.name != socket.gethostname():
        log.info("agent_named", name=home.name, reason="another agent of this machine runs under the hostname",
                 hint="give each agent its own --name to choose")
    from lightning_ctl.agent.inventory import detect

    try:
        memory_bytes = parse_size(memory) if memory is not None else None
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--memory") from None
    try:
        inventory = detect(cpus=cpus, memory_bytes=memory_bytes, gpu_selection=gpus)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--gpus") from None
    agent_id = _persistent_agent_id(home.path)
    session_kwargs = dict(
        address=address, join_token=join_token, inventory=inventory, name=home.name, labels=_labels(labels),
        agent_id=agent_id,
        is_local=is_local,
        tls=_tls(tls_ca, tls_cert, tls_key),
        address_file=address_file,
    )
    if work_dir:
        os.makedirs(work_dir, exist_ok=True)
    with quiet_grpc_core(log_level):
        from lightning_ctl.agent.serve import LocalAgentOptions, serve

    local = LocalAgentOptions(parent_pid, orphan_timeout) if parent_pid else None
    status = asyncio.run(
        serve(session_kwargs, home, address_fd, work_dir, None if no_fork_server else launcher, local, stop_grace,
              use_cgroups=not no_cgroups, stop_works_on_exit=stop_works_on_exit, serving=serving)
    )
    raise SystemExit(status)
