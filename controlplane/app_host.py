"""AppHost: one ``lightning-ctl run``: the server, the local agent, the flow loop, and a clean end.

    bind server ─► start local agent ─► load the app ─► flow loop ─► ... ─► app ended
                                                                              │
                  stop works (in the loop's teardown) ◄───────────────────────┘
                  ─► stop the local agent ─► stop the server ─► exit status
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from typing import Callable

import structlog

from lightning_ctl.controlplane.agents.app_bundle import AppBundle
from lightning_ctl.controlplane.agents.local_agent import LocalAgent
from lightning_ctl.controlplane.agents.locations import WorkLocations
from lightning_ctl.controlplane.agents.registry import AgentRegistry
from lightning_ctl.controlplane.api.agent_service import AgentServicer
from lightning_ctl.controlplane.api.app_service import AppServicer
from lightning_ctl.controlplane.api.server import PortInUseError, build_server
from lightning_ctl.controlplane.api.storage_service import StorageServicer
from lightning_ctl.controlplane.credential_store import CredentialStore
from lightning_ctl.controlplane.credentials import LOOPBACK_HOSTS
from lightning_ctl.controlplane.flows.flow_runtime import FlowRuntime
from lightning_ctl.controlplane.flows.loop import AppEnded, FlowLoop, StopRequested
from lightning_ctl.controlplane.flows.queries import Query, QueryBox
from lightning_ctl.controlplane.flows.resume import ResumePlan, plan_resume, restore
from lightning_ctl.controlplane.home import app_home
from lightning_ctl.controlplane.options import RunOptions
from lightning_ctl.controlplane.output.console import Console
from lightning_ctl.controlplane.output.log_store import LogStore
from lightning_ctl.controlplane.run_file import RunInfo, remove_run_file, write_run_file
from lightning_ctl.controlplane.storage import open_store, record_store, start_afresh
from lightning_ctl.controlplane.storage.coordinator import StorageCoordinator
from lightning_ctl.sdk._app import LightningApp
from lightning_ctl.sdk._events import LinesLogged
from lightning_ctl.sdk._exit_codes import ExitCode
from lightning_ctl.sdk._loader import load_app

log = structlog.get_logger(component="app_host")

MISSED_HEARTBEATS = 3
_AGENT_EXIT_TIMEOUT_S = 5.0
_LOCAL_JOIN_TTL_S = 3600.0


def _advertised(host: str) -> str:
    """The host agents should dial: this machine's name when listening on every interface."""
    if host in ("0.0.0.0", "::", ""):
        import socket

        return socket.gethostname()
    return host


def _client_address(host: str, port: int, local_port: int, has_tls: bool) -> str:
    """Where a client on this machine reaches the control plane without TLS (for the run file)."""
    if has_tls or host in ("0.0.0.0", "::", "", "127.0.0.1"):
        return f"127.0.0.1:{local_port}"  # with TLS, local_port is the extra plain listener on 127.0.0.1
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class AppHost:
    """Runs one app until it ends and returns its exit status."""

    def __init__(self, options: RunOptions, local_agent: LocalAgent | None = None,
                 console: Console | None = None) -> None:
        if not options.token:
            raise ValueError("RunOptions.token must be set")
        self.options = options
        self.token = options.token
        self.console = console or Console()
        self.credentials = CredentialStore(options.token, app_home(options.app_path) / "credentials.json")
        if options.join_token:
            self.credentials.accept_static_join_token(options.join_token)
        self.registry = AgentRegistry(report_pending=self._deliver, bundle=AppBundle(options.app_path))
        self._flow_loop: FlowLoop | None = None
        self._local_agent = local_agent
        self.log_store = LogStore()
        self.queries = QueryBox(self._submit_query)

    def _deliver(self, event: object) -> None:
        if self._flow_loop is not None:
            self._flow_loop.inbox.put(event)  # type: ignore[arg-type]

    async def run(self) -> int:
        """Serve, run the app, tear everything down; the app's exit status."""
        opts = self.options
        loop = asyncio.get_running_loop()
        plan = plan_resume(opts.app_path, opts.port, opts.fresh)
        self.registry.locations = WorkLocations(app_home(opts.app_path) / "locations.json",
                                                resume=plan.saved is not None)
        servicer = AgentServicer(self.registry, self._deliver, self._on_lines, self.credentials,
                                 opts.heartbeat_interval_s, opts.max_attribute_bytes)
        app_servicer = AppServicer(self.registry, self.log_store, self.queries, self._stop_by_operator,
                                   self.credentials, os.path.abspath(opts.app_path), opts.heartbeat_interval_s)
        storage = StorageServicer(await self._open_store(resumed=plan.saved is not None), self.credentials)
        try:
            server, port, local_port = build_server(servicer, self.credentials, opts.host, plan.port, opts.tls,
                                                    app_servicer, storage)
        except PortInUseError:
            if plan.port == opts.port:
                raise
            log.warning("previous_port_taken", port=plan.port, hint="agents must be pointed at the new port")
            server, port, local_port = build_server(servicer, self.credentials, opts.host, opts.port, opts.tls,
                                                    app_servicer, storage)
        await server.start()
        plan.checkpoint.begin(os.getpid(), port, resumed=plan.saved is not None)
        liveness = asyncio.create_task(self._check_liveness(opts.heartbeat_interval_s))
        log.info("control_plane_listening", address=f"{opts.host}:{port}", tls=opts.tls is not None,
                 mutual_tls=bool(opts.tls and opts.tls.ca))
        if opts.host not in LOOPBACK_HOSTS and opts.tls is None:
            log.warning("listening_without_tls", address=f"{opts.host}:{port}",
                        hint="the token and the app's data cross the network in clear; pass --tls-cert/--tls-key")
        if opts.host not in LOOPBACK_HOSTS or not self._local_agent:
            tls_hint = " --tls-ca CA.pem" if opts.tls else ""
            log.info("agents_join_with", command=f"LIGHTNING_AGENT_JOIN_TOKEN=$(lightning-ctl agents join-token) "
                                                 f"lightning-agent --control-plane {_advertised(opts.host)}:{port}"
                                                 f"{tls_hint}")
        try:
            if self._local_agent is not None:
                local_join = self.credentials.issue_join_token(ttl_s=_LOCAL_JOIN_TTL_S, agent_name="local",
                                                               is_local=True)
                self._local_agent.send_address(f"127.0.0.1:{local_port}", local_join.token)
            self._write_run_file(_client_address(opts.host, port, local_port, opts.tls is not None))
            os.environ.update(opts.env)
            app, _ = load_app(opts.app_path)
            ended = await self._run_app(app, loop, plan)
            plan.checkpoint.end()
        finally:
            self.queries.close()
            self.log_store.close()
            app_servicer.close()
            remove_run_file(os.getpid())
            liveness.cancel()
            await self._stop_local_agent()
            await self._close_agent_streams()
            await server.stop(grace=1.0)
            plan.checkpoint.close()
            self.console.close()
        if ended.message:
            print(ended.message, file=sys.stderr, flush=True)
        log.info("app_ended", exit_code=ended.exit_code)
        return ended.exit_code

    async def _run_app(self, app: LightningApp, loop: asyncio.AbstractEventLoop, plan: ResumePlan) -> AppEnded:
        ended: asyncio.Future[AppEnded] = loop.create_future()
        runtime = FlowRuntime(os.path.abspath(self.options.app_path), self.options.env, self.options.stop_grace_s,
                              last_attempts=plan.checkpoint.attempts())
        if plan.saved is not None:
            restore(app, runtime, plan.saved)
        self._flow_loop = FlowLoop(
            app,
            runtime,
            send_commands=lambda commands: loop.call_soon_threadsafe(self.registry.route, commands),
            on_end=lambda result: loop.call_soon_threadsafe(ended.set_result, result),
            checkpoint=plan.checkpoint,
            resumed=plan.saved is not None,
        )
        for sig, code, reason in (
            (signal.SIGINT, ExitCode.INTERRUPTED, "interrupted (Ctrl-C)"),
            (signal.SIGTERM, ExitCode.TERMINATED, "terminated (SIGTERM)"),
        ):
            loop.add_signal_handler(sig, self._request_stop, code, reason)
        self._flow_loop.start()
        return await ended

    async def _open_store(self, resumed: bool) -> StorageCoordinator:
        """The app's store; a run that does not resume starts without the previous run's artifacts (Drives stay)."""
        opts = self.options
        folder = app_home(opts.app_path)
        store = open_store(folder, opts.storage_url, opts.storage_options)
        record_store(folder, opts.storage_url, opts.storage_options)
        if not resumed:
            removed = await asyncio.to_thread(start_afresh, store)
            log.debug("store_cleaned", blobs_removed=removed)
        log.info("app_store", location=store.description)
        return StorageCoordinator(store, self.registry)

    def _on_lines(self, work_name: str, logged: LinesLogged, on_written: Callable[[], None]) -> None:
        self.log_store.append(work_name, logged.stream, logged.lines)
        self.console.print_lines(work_name, logged, on_written)

    def _submit_query(self, query: Query) -> bool:
        if self._flow_loop is None:
            return False
        self._flow_loop.inbox.put(query)  # type: ignore[arg-type]
        return True

    def _stop_by_operator(self, reason: str) -> None:
        """``lightning-ctl stop``: end the app as ``flow.stop()`` does (exit status 0)."""
        if self._flow_loop is not None:
            self._request_stop(0, reason)

    def _write_run_file(self, address: str) -> None:
        """Let ``lightning-ctl status/logs/...`` on this machine find this app (owner-only: it holds the token)."""
        info = RunInfo(address, self.token, os.getpid(), os.path.abspath(self.options.app_path), time.time())
        try:
            write_run_file(info)
        except OSError as exc:
            log.warning("run_file_not_written", error=str(exc),
                        hint="lightning-ctl status/logs/stop need --address and --token")

    async def _close_agent_streams(self) -> None:
        """End the agents' streams ourselves, so that none is cut by the server's shutdown."""
        self.registry.close_all("the control plane is stopping")
        deadline = asyncio.get_running_loop().time() + 1.0
        while self.registry.agents and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)

    async def _check_liveness(self, heartbeat_interval_s: float) -> None:
        """Declare agents disconnected after MISSED_HEARTBEATS heartbeat periods of silence, and their works lost
        once their grace period is over."""
        while True:
            await asyncio.sleep(heartbeat_interval_s / 2)
            self.registry.check_liveness(MISSED_HEARTBEATS * heartbeat_interval_s)
            for lost in self.registry.find_lost(self.options.agent_lost_grace_s):
                self._deliver(lost)

    def _request_stop(self, exit_code: int, reason: str) -> None:
        log.info("app_stopping", reason=reason)
        assert self._flow_loop is not None
        self._flow_loop.inbox.put(StopRequested(exit_code, reason))

    async def _stop_local_agent(self) -> None:
        agent = self._local_agent
        if agent is None:
            return
        agent.terminate()
        if not await asyncio.to_thread(agent.wait, self.options.stop_grace_s + _AGENT_EXIT_TIMEOUT_S):
            log.warning("local_agent_killed", pid=agent.pid)
            agent.kill()
            await asyncio.to_thread(agent.wait, _AGENT_EXIT_TIMEOUT_S)
