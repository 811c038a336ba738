"""``lightning-ctl run APP_FILE``: run an app until it ends."""

from __future__ import annotations

import re

import click

from lightning_ctl.controlplane.agents.local_agent import LocalAgent
from lightning_ctl.controlplane.credentials import TlsFiles, load_or_create_token
from lightning_ctl.controlplane.exclusive import (
    AppAlreadyRunningError,
    PortInUseError,
    ensure_port_free,
    lock_app,
)
from lightning_ctl.controlplane.options import RunOptions

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_env(values: tuple[str, ...]) -> dict[str, str]:
    """``("K=V", ...)`` as a dict; a clear usage error naming the bad value otherwise."""
    env: dict[str, str] = {}
    for value in values:
        name, sep, val = value.partition("=")
        if not sep or not _ENV_NAME.match(name):
            raise click.BadParameter(f"expected NAME=VALUE with a valid variable name, got {value!r}",
                                     param_hint="--env")
        if name in env:
            raise click.BadParameter(f"{name} is given more than once", param_hint="--env")
        env[name] = val
    return env


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target", nargs=-1, required=True, metavar="APP_FILE")
@click.option("--env", "env_values", multiple=True, metavar="NAME=VALUE",
              help="Set an environment variable for the flows and every work (repeatable).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the control plane listens on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port the control plane listens on (0: any free port).")
@click.option("--token", envvar="LIGHTNING_CTL_TOKEN", default="", help="Token agents must present (default: the one in ~/.lightning-ctl/token, created on first use).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Serve TLS with this certificate (PEM).")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), default=None, help="Its private key (PEM).")
@click.option("--tls-ca", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Require agents to present a certificate signed by this CA (mutual TLS).")
@click.option("--agent-lost-grace", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds an agent may stay disconnected before its works are failed or restarted elsewhere.")
@click.option("--fresh", is_flag=True,
              help="Start over even if the previous run of this app did not end (default: resume it).")
@click.option("--no-local-agent", is_flag=True, help="Do not start a local agent: works run on remote agents only.")
@click.option("--stop-grace", type=float, default=30.0, show_default=True,
              help="Seconds a stopped work gets to exit before SIGKILL.")
@click.option("--heartbeat-interval", type=click.FloatRange(min=0.05), default=2.0, show_default=True,
              help="Seconds between agent heartbeats; an agent silent for 3 of them (plus its link's round trip) is "
                   "disconnected.")
@click.option("--log-format", type=click.Choice(["console", "json"]), default="console", show_default=True)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def run(
    target: tuple[str, ...],
    env_values: tuple[str, ...],
    host: str,
    port: int,
    token: str,
    tls_cert: str | None,
    tls_key: str | None,
    tls_ca: str | None,
    agent_lost_grace: float,
    fresh: bool,
    no_local_agent: bool,
    stop_grace: float,
    heartbeat_interval: float,
    log_format: str,
    log_level: str,
) -> None:
    """Run the app in APP_FILE until it ends (``run app APP_FILE`` works too).

    Exit codes: 0 the app stopped; 1 it failed (a flow called fail() or raised, or a work failed the app) or could
    not be loaded; 2 usage error; 130 stopped by Ctrl-C; 143 stopped by SIGTERM.
    """
    if len(target) == 2 and target[0] == "app":
        target = target[1:]
    if len(target) != 1:
        raise click.UsageError("expected one APP_FILE")
    env = parse_env(env_values)
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if tls_ca and not tls_cert:
        raise click.UsageError("--tls-ca (mutual TLS) needs --tls-cert and --tls-key")
    options = RunOptions(
        app_path=target[0],
        host=host,
        port=port,
        token=token or load_or_create_token(),
        env=env,
        stop_grace_s=stop_grace,
        log_level=log_level,
        heartbeat_interval_s=heartbeat_interval,
        tls=TlsFiles(tls_cert, tls_key, tls_ca) if tls_cert and tls_key else None,
        fresh=fresh,
        agent_lost_grace_s=agent_lost_grace,
    )
    # Claimed before anything starts, so that a refused run touches nothing of the run that owns them.
    try:
        app_lock = lock_app(options.app_path)
        ensure_port_free(options.host, options.port)
    except (AppAlreadyRunningError, PortInUseError) as exc:
        raise click.ClickException(str(exc)) from None
    # Started before the heavy imports below, so the agent (and its fork server) start while this process does.
    local_agent = None if no_local_agent else LocalAgent(options)
    try:
        status = _run(options, log_format, local_agent)
    finally:
        if local_agent is not None and local_agent.process is not None:
            local_agent.terminate()  # one we started never outlives us (AppHost has normally stopped it already)
        app_lock.release()
    raise SystemExit(status)


def _run(options: RunOptions, log_format: str, local_agent: LocalAgent | None) -> int:
    import asyncio

    from lightning_ctl.sdk._files import raise_open_files_limit
    from lightning_ctl.sdk._logging import configure_logging, protect_standard_streams, quiet_grpc_core

    with quiet_grpc_core(options.log_level):
        from lightning_ctl.controlplane.app_host import AppHost
        from lightning_ctl.controlplane.flows.checkpoint import CheckpointError
    from lightning_ctl.sdk.errors import AppImportError

    protect_standard_streams()  # `lightning-ctl run app.py | grep -q ...`: a closed console never fails the app
    configure_logging(log_format, options.log_level)
    raise_open_files_limit()
    try:
        return asyncio.run(AppHost(options, local_agent).run())
    except AppImportError as exc:
        raise click.ClickException(str(exc).rstrip()) from None
    except (PortInUseError, CheckpointError) as exc:
        raise click.ClickException(str(exc)) from None
