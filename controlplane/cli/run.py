"""``lightning-ctl run APP_FILE``: run an app until it ends."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket

import click

from lightning_ctl.controlplane.agents.local_agent import LocalAgent
from lightning_ctl.controlplane.credentials import TlsFiles, load_or_create_token
from lightning_ctl.controlplane.errors import (
    AppAlreadyRunningError,
    AppServeError,
    CheckpointError,
    PortInUseError,
    ProviderError,
    ProviderOptionError,
)
from lightning_ctl.controlplane.exclusive import ensure_port_free, lock_app
from lightning_ctl.controlplane.home import remember_app
from lightning_ctl.controlplane.http import listener
from lightning_ctl.controlplane.options import RunOptions
from lightning_ctl.controlplane.providers.settings import (
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_MAX_AGENTS,
    ENGINES,
    ProviderSettings,
    parse_provider_options,
)
from lightning_ctl.protos.limits import (
    DEFAULT_MAX_ATTRIBUTE_BYTES,
    MAX_MAX_ATTRIBUTE_BYTES,
    MIN_MAX_ATTRIBUTE_BYTES,
)
from lightning_ctl.sdk._cli_values import parse_port_range
from lightning_ctl.sdk._loader_args import APP_ARGV_VARIABLE
from lightning_ctl.sdk._sizes import parse_size

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


def parse_storage_options(values: tuple[str, ...]) -> dict[str, str]:
    """``("KEY=VALUE", ...)`` as a dict; a usage error naming the bad value otherwise."""
    options: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}", param_hint="--storage-option")
        options[key] = val
    return options


def parse_attribute_size(value: str) -> int:
    """``--max-attribute-size``: a size such as ``16Mi``, within the range the wire can carry."""
    try:
        size = parse_size(value)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--max-attribute-size") from None
    if not MIN_MAX_ATTRIBUTE_BYTES <= size <= MAX_MAX_ATTRIBUTE_BYTES:
        raise click.BadParameter(f"{value} is {size} bytes; it must be between {MIN_MAX_ATTRIBUTE_BYTES} and "
                                 f"{MAX_MAX_ATTRIBUTE_BYTES} bytes", param_hint="--max-attribute-size")
    return size


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target", nargs=-1, required=True, metavar="APP_FILE [-- APP_ARG...]")
@click.option("--app-args", "--app_args", "app_args", multiple=True, metavar="ARG",
              help="An argument for the app file's own command line (sys.argv), as the former framework's "
                   "--app_args (repeatable); arguments after `--` go there too.")
@click.option("--env", "env_values", multiple=True, metavar="NAME=VALUE",
              help="Set an environment variable for the flows and every work (repeatable).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the control plane listens on.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port the control plane listens on (0: any free port).")
@click.option("--token", envvar="LIGHTNING_CTL_TOKEN", default="",
              help="The operator's token, for lightning-ctl status/logs/stop/agents and the HTTP API (default: the "
                   "one in ~/.lightning-ctl/token, created on first use). Agents never use it.")
@click.option("--join-token", envvar="LIGHTNING_CTL_JOIN_TOKEN", default="", show_envvar=True,
              help="A join token agents may use any number of times while the app runs (at least 16 characters); "
                   "without it, issue them with `lightning-ctl agents join-token`.")
@click.option("--max-attribute-size", "max_attribute_size", default=f"{DEFAULT_MAX_ATTRIBUTE_BYTES // 2**20}Mi",
              show_default=True, metavar="SIZE",
              help="The largest JSON value a work's attribute may take; a larger assignment fails in the work.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Serve TLS with this certificate (PEM).")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), default=None, help="Its private key (PEM).")
@click.option("--tls-ca", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Require agents to present a certificate signed by this CA (mutual TLS).")
@click.option("--agent-lost-grace", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds an agent may stay disconnected before its works are failed or restarted elsewhere.")
@click.option("--fresh", is_flag=True,
              help="Start over even if the previous run of this app did not end (default: resume it).")
@click.option("--http-port", type=click.IntRange(0, 65535), default=None,
              help="Port of the view and REST API (default: 7501 or the next free one; 0: any free port).")
@click.option("--no-http", is_flag=True, help="Serve no view and no REST API.")
@click.option("--http-allowed-host", "http_allowed_hosts", multiple=True, metavar="NAME",
              help="A host name the view and API may be reached by (repeatable; IP addresses and this machine's "
                   "names always work).")
@click.option("--no-local-agent", is_flag=True, help="Do not start a local agent: works run on remote agents only.")
@click.option("--storage", "storage_url", default=None, metavar="URL",
              help="Keep the app's files (Paths, Payloads, Drives) at this folder or fsspec URL, e.g. "
                   "s3://bucket/prefix (needs the 'storage' extra)  [default: a folder of ~/.lightning-ctl].")
@click.option("--storage-option", "storage_values", multiple=True, metavar="KEY=VALUE",
              help="An option of the --storage filesystem, e.g. endpoint_url=http://minio:9000 (repeatable; pass "
                   "credentials through the environment, e.g. AWS_ACCESS_KEY_ID).")
@click.option("--provider", type=click.Choice(ENGINES), default=None,
              help="Start agents on demand with this engine for works no connected agent can take (no local "
                   "agent is started then).")
@click.option("--provider-option", "provider_options", multiple=True, metavar="KEY=VALUE",
              help="An engine setting, e.g. partition=gpu (slurm), namespace=ml (kubernetes) (repeatable).")
@click.option("--max-agents", type=click.IntRange(min=1), default=DEFAULT_MAX_AGENTS, show_default=True,
              help="At most this many agents requested from the provider at once.")
@click.option("--agent-idle-timeout", type=click.FloatRange(min=0), default=DEFAULT_IDLE_TIMEOUT_S,
              show_default=True, help="Seconds a requested agent may stay idle before it is released.")
@click.option("--stop-grace", type=float, default=30.0, show_default=True,
              help="Seconds a stopped work gets to exit before SIGKILL.")
@click.option("--work-ports", default=None, metavar="FIRST-LAST",
              help="The ports the local agent gives its works, e.g. 30000-30999 (default: any free port); other "
                   "agents take lightning-agent --ports.")
@click.option("--heartbeat-interval", type=click.FloatRange(min=0.05), default=2.0, show_default=True,
              help="Seconds between agent heartbeats; an agent silent for 3 of them (plus its link's round trip) is "
                   "disconnected.")
@click.option("--log-format", type=click.Choice(["console", "json"]), default="console", show_default=True)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def run(
    target: tuple[str, ...],
    app_args: tuple[str, ...],
    env_values: tuple[str, ...],
    host: str,
    port: int,
    token: str,
    join_token: str,
    max_attribute_size: str,
    tls_cert: str | None,
    tls_key: str | None,
    tls_ca: str | None,
    agent_lost_grace: float,
    fresh: bool,
    http_port: int | None,
    no_http: bool,
    http_allowed_hosts: tuple[str, ...],
    no_local_agent: bool,
    storage_url: str | None,
    storage_values: tuple[str, ...],
    provider: str | None,
    provider_options: tuple[str, ...],
    max_agents: int,
    agent_idle_timeout: float,
    stop_grace: float,
    work_ports: str | None,
    heartbeat_interval: float,
    log_format: str,
    log_level: str,
) -> None:
    """Run the app in APP_FILE until it ends (``run app APP_FILE`` works too).

    The app file, and every work's process, sees ``sys.argv`` as ``[APP_FILE, APP_ARG...]`` while it loads, as with
    ``python APP_FILE APP_ARG...``: ``lightning-ctl run app.py -- --use_gpu`` (or ``--app-args --use_gpu``).

    Exit codes: 0 the app stopped; 1 it failed (a flow called fail() or raised, or a work failed the app) or could
    not be loaded; 2 usage error; 130 stopped by Ctrl-C; 143 stopped by SIGTERM.
    """
    if len(target) >= 2 and target[0] == "app":
        target = target[1:]
    env = parse_env(env_values)
    app_argv = [*target[1:], *app_args]
    if app_argv:
        env[APP_ARGV_VARIABLE] = json.dumps(app_argv)
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if tls_ca and not tls_cert:
        raise click.UsageError("--tls-ca (mutual TLS) needs --tls-cert and --tls-key")
    operator_token = token or load_or_create_token()
    if join_token and (len(join_token) < 16 or join_token == operator_token):
        raise click.BadParameter("must be at least 16 characters and differ from the operator's token",
                                 param_hint="--join-token")
    options = RunOptions(
        app_path=target[0],
        host=host,
        port=port,
        token=operator_token,
        join_token=join_token,
        max_attribute_bytes=parse_attribute_size(max_attribute_size),
        env=env,
        stop_grace_s=stop_grace,
        work_ports=_work_ports(work_ports),
        log_level=log_level,
        heartbeat_interval_s=heartbeat_interval,
        tls=TlsFiles(tls_cert, tls_key, tls_ca) if tls_cert and tls_key else None,
        fresh=fresh,
        agent_lost_grace_s=agent_lost_grace,
        http=not no_http,
        http_port=http_port,
        http_allowed_hosts=http_allowed_hosts,
        storage_url=storage_url,
        storage_options=parse_storage_options(storage_values),
        provider=_provider_settings(provider, provider_options, max_agents, agent_idle_timeout),
    )
    # Claimed before anything starts, so that a refused run touches nothing of the run that owns them.
    try:
        app_lock = lock_app(options.app_path)
        ensure_port_free(options.host, options.port)
    except (AppAlreadyRunningError, PortInUseError) as exc:
        raise click.ClickException(str(exc)) from None
    if os.path.isfile(options.app_path):
        remember_app(options.app_path)  # so that `lightning-ctl logs` finds its output once it has ended
    no_local_agent = no_local_agent or provider is not None
    # The HTTP port first: the local agent's fork server preloads the app, which may read it (APP_SERVER_PORT).
    try:
        http_socket = listener.reserve_port(options)
    except listener.HttpPortInUseError as exc:
        raise click.ClickException(str(exc)) from None
    options = dataclasses.replace(options, env={**options.env, **listener.server_address_env(options, http_socket)})
    # Started before the heavy imports below, so the agent (and its fork server) start while this process does.
    local_agent = None if no_local_agent else LocalAgent(options)
    try:
        status = _run(options, log_format, local_agent, http_socket)
    finally:
        if local_agent is not None and local_agent.process is not None:
            local_agent.terminate()  # one we started never outlives us (AppHost has normally stopped it already)
        app_lock.release()
    raise SystemExit(status)


def _provider_settings(engine: str | None, values: tuple[str, ...], max_agents: int,
                       idle_timeout_s: float) -> ProviderSettings | None:
    if engine is None:
        if values:
            raise click.UsageError("--provider-option needs --provider")
        return None
    try:
        return ProviderSettings(engine, parse_provider_options(values), max_agents, idle_timeout_s)
    except ProviderOptionError as exc:
        raise click.UsageError(str(exc)) from None


def _run(options: RunOptions, log_format: str, local_agent: LocalAgent | None,
         http_socket: socket.socket | None) -> int:
    import asyncio

    from lightning_ctl.sdk._files import raise_open_files_limit
    from lightning_ctl.sdk._logging import configure_logging, protect_standard_streams, quiet_grpc_core

    with quiet_grpc_core(options.log_level):
        from lightning_ctl.controlplane.app_host import AppHost
    from lightning_ctl.sdk.errors import AppImportError, MisconfigurationException

    protect_standard_streams()  # `lightning-ctl run app.py | grep -q ...`: a closed console never fails the app
    configure_logging(log_format, options.log_level)
    raise_open_files_limit()
    try:
        return asyncio.run(AppHost(options, local_agent, http_socket=http_socket).run())
    except AppImportError as exc:
        raise click.ClickException(str(exc).rstrip()) from None
    except (PortInUseError, CheckpointError, AppServeError, MisconfigurationException, ProviderError) as exc:
        raise click.ClickException(str(exc)) from None
    except ProviderOptionError as exc:
        raise click.UsageError(str(exc)) from None


def _work_ports(text: str | None) -> tuple[int, int] | None:
    """--work-ports, checked."""
    try:
        return parse_port_range(text) if text else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--work-ports") from None
