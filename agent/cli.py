"""``lightning-agent``: run works on this machine for a control plane.

Exit codes: 0 stopped cleanly; 1 it could not start (another agent runs from the same home); 2 usage error; 4 the
control plane refused the token.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path

import click
import structlog

from lightning_ctl.agent.home import AgentHome, AgentHomeInUseError
from lightning_ctl.agent.launcher import ZygoteLauncher
from lightning_ctl.agent.runner.orphans import OrphanSettings
from lightning_ctl.sdk._files import raise_open_files_limit, read_or_create
from lightning_ctl.sdk._logging import configure_logging, protect_standard_streams, quiet_grpc_core
from lightning_ctl.sdk._sizes import parse_size

log = structlog.get_logger(component="agent")


def _labels(values: tuple[str, ...]) -> dict[str, str]:
    labels = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint="--labels")
        labels[key] = val
    return labels


def _tls(ca: str | None, cert: str | None, key: str | None) -> tuple[bytes | None, bytes | None, bytes | None] | None:
    """The (CA, key, certificate) PEM bytes to connect with TLS, or None for a plain connection."""
    if bool(cert) != bool(key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if not (ca or cert):
        return None
    return tuple(Path(p).read_bytes() if p else None for p in (ca, key, cert))  # type: ignore[return-value]


def _persistent_agent_id(home: Path) -> str:
    """This agent's identity, kept in its home so that it survives restarts."""
    return read_or_create(home / "agent-id", lambda: uuid.uuid4().hex)


@click.command(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "LIGHTNING_AGENT"})
@click.option("--control-plane", "address", default=None, metavar="HOST:PORT", help="Where the control plane listens.")
@click.option("--control-plane-fd", "address_fd", type=int, default=None, hidden=True,
              help="Read HOST:PORT from this pipe (used by lightning-ctl for its local agent).")
@click.option("--preload-app", type=click.Path(dir_okay=False), default=None, hidden=True,
              help="Load this app in the fork server right away (used for the local agent).")
@click.option("--token", envvar="LIGHTNING_CTL_TOKEN", default="", show_envvar=True,
              help="The control plane's token.")
@click.option("--name", default=None, help="Agent name shown by the control plane (default: hostname).")
@click.option("--labels", multiple=True, metavar="KEY=VALUE", help="Labels works can ask for (repeatable).")
@click.option("--work-dir", type=click.Path(file_okay=False), default=None, help="Where works run: code bundles from the control plane unpack here (default: the agent's state dir).")
@click.option("--gpus", default="all", show_default=True, help="GPUs to offer: all, none, or indices like 0,2.")
@click.option("--cpus", type=float, default=None, help="CPUs to offer (default: all).")
@click.option("--memory", default=None, help="Memory to offer, e.g. 16Gi (default: all).")
@click.option("--stop-grace", type=float, default=30.0, show_default=True, help="Seconds before SIGKILL on stop.")
@click.option("--tls-ca", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Connect with TLS, trusting this CA (PEM) for the control plane's certificate.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), default=None,
              help="This agent's certificate (PEM), for control planes that require mutual TLS.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), default=None, help="Its private key (PEM).")
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
@click.option("--agent-id", default=None, hidden=True)
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
    token: str,
    name: str | None,
    labels: tuple[str, ...],
    work_dir: str | None,
    gpus: str,
    cpus: float | None,
    memory: str | None,
    stop_grace: float,
    tls_ca: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    no_fork_server: bool,
    no_cgroups: bool,
    parent_pid: int | None,
    orphan_timeout: float,
    address_file: str | None,
    agent_id: str | None,
    is_local: bool,
    state_dir: str,
    log_format: str,
    log_level: str,
) -> None:
    """Run works on this machine for the control plane at HOST:PORT.

    Exit codes: 0 stopped cleanly, 1 could not start (another agent runs from the same --state-dir and --name),
    2 usage error, 4 the control plane refused the token.

    \b
    Shell completion of options:
      bash: eval "$(_LIGHTNING_AGENT_COMPLETE=bash_source lightning-agent)"
      zsh:  eval "$(_LIGHTNING_AGENT_COMPLETE=zsh_source lightning-agent)"
      fish: _LIGHTNING_AGENT_COMPLETE=fish_source lightning-agent | source
    """
    if (address is None) == (address_fd is None):
        raise click.UsageError("give --control-plane HOST:PORT")
    home = AgentHome(Path(state_dir) / (name or socket.gethostname()))
    try:
        home.lock()
    except AgentHomeInUseError as exc:
        raise click.ClickException(str(exc)) from None
    launcher = ZygoteLauncher(str(home.exits_dir), OrphanSettings(orphan_timeout, stop_grace, str(home.pid_file),
                                                                  log_format))
    if not no_fork_server:
        launcher.prestart(preload_app)  # first, so the fork server's start overlaps ours
    protect_standard_streams()
    configure_logging(log_format, log_level)
    raise_open_files_limit()  # hundreds of works: a socket and two capture files each
    from lightning_ctl.agent.inventory import detect

    try:
        memory_bytes = parse_size(memory) if memory is not None else None
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--memory") from None
    try:
        inventory = detect(cpus=cpus, memory_bytes=memory_bytes, gpu_selection=gpus)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--gpus") from None
    agent_id = agent_id or _persistent_agent_id(home.path)
    session_kwargs = dict(
        address=address, token=token, inventory=inventory, name=name, labels=_labels(labels), agent_id=agent_id,
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
              use_cgroups=not no_cgroups)
    )
    raise SystemExit(status)
