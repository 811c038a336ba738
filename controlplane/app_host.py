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

import structlog

from controlplane.app_bundle import AppBundle
from controlplane.console import Console
from controlplane.credentials import LOOPBACK_HOSTS, TOKEN_FILE
from controlplane.options import RunOptions
from controlplane.local_agent import LocalAgent
from controlplane.loop import AppEnded, FlowLoop, StopRequested
from controlplane.registry import AgentRegistry
from controlplane.runtime import FlowRuntime
from controlplane.server import build_server
from controlplane.services.agent_service import AgentServicer
from sdk._loader import load_app

log = structlog.get_logger(component="app_host")

MISSED_HEARTBEATS = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
_AGENT_EXIT_TIMEOUT_S = 5.0


def _advertised(host: str) -> str:
    """The host agents should dial: this machine's name when listening on every interface."""
    if host in ("0.0.0.0", "::", ""):
        import socket

        return socket.gethostname()
    return host


class AppHost:
    """Runs one app until it ends and returns its exit status."""

    def __init__(self, options: RunOptions, local_agent: LocalAgent | None = None,
                 console: Console | None = None) -> None:
        if not options.token:
            raise ValueError("RunOptions.token must be set")
        self.options = options
        self.token = options.token
        self.console = console or Console()
        self.registry = AgentRegistry(report_pending=self._deliver, bundle=AppBundle(options.app_path))
        self._flow_loop: FlowLoop | None = None
        self._local_agent = local_agent

    def _deliver(self, event: object) -> None:
        if self._flow_loop is not None:
            self._flow_loop.inbox.put(event)  # type: ignore[arg-type]

    async def run(self) -> int:
        """Serve, run the app, tear everything down; the app's exit status."""
        opts = self.options
        loop = asyncio.get_running_loop()
        servicer = AgentServicer(self.registry, self._deliver, self.console.print_lines, opts.heartbeat_interval_s)
        server, port, local_port = build_server(servicer, self.token, opts.host, opts.port, opts.tls)
        await server.start()
        liveness = asyncio.create_task(self._check_liveness(opts.heartbeat_interval_s))
        log.info("control_plane_listening", address=f"{opts.host}:{port}", tls=opts.tls is not None,
                 mutual_tls=bool(opts.tls and opts.tls.ca))
        if opts.host not in LOOPBACK_HOSTS and opts.tls is None:
            log.warning("listening_without_tls", address=f"{opts.host}:{port}",
                        hint="the token and the app's data cross the network in clear; pass --tls-cert/--tls-key")
        if opts.host not in LOOPBACK_HOSTS or not self._local_agent:
            tls_hint = " --tls-ca CA.pem" if opts.tls else ""
            log.info("agents_join_with", command=f"LIGHTNING_CTL_TOKEN=$(cat {TOKEN_FILE}) lightning-agent "
                                                 f"--control-plane {_advertised(opts.host)}:{port}{tls_hint}")
        try:
            if self._local_agent is not None:
                self._local_agent.send_address(f"127.0.0.1:{local_port}")
            os.environ.update(opts.env)
            app, _ = load_app(opts.app_path)
            ended = await self._run_app(app, loop)
        finally:
            liveness.cancel()
            await self._stop_local_agent()
            await server.stop(grace=1.0)
        if ended.message:
            print(ended.message, file=sys.stderr, flush=True)
        log.info("app_ended", exit_code=ended.exit_code)
        return ended.exit_code

    async def _run_app(self, app: object, loop: asyncio.AbstractEventLoop) -> AppEnded:
        ended: asyncio.Future[AppEnded] = loop.create_future()
        runtime = FlowRuntime(os.path.abspath(self.options.app_path), self.options.env, self.options.stop_grace_s)
        self._flow_loop = FlowLoop(
            app,  # type: ignore[arg-type]
            runtime,
            send_commands=lambda commands: loop.call_soon_threadsafe(self.registry.route, commands),
            on_end=lambda result: loop.call_soon_threadsafe(ended.set_result, result),
        )
        for sig, code, reason in (
            (signal.SIGINT, EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
            (signal.SIGTERM, EXIT_TERMINATED, "terminated (SIGTERM)"),
        ):
            loop.add_signal_handler(sig, self._request_stop, code, reason)
        self._flow_loop.start()
        return await ended

    async def _check_liveness(self, heartbeat_interval_s: float) -> None:
        """Declare agents disconnected after MISSED_HEARTBEATS heartbeat periods of silence."""
        while True:
            await asyncio.sleep(heartbeat_interval_s / 2)
            self.registry.check_liveness(MISSED_HEARTBEATS * heartbeat_interval_s)

    def _request_stop(self, exit_code: int, reason: str) -> None:
        log.info("app_stopping", reason=reason)
        assert self._flow_loop is not None
        self._flow_loop.inbox.put(StopRequested(exit_code, reason))

    async def _stop_local_agent(self) -> None:
        if self._local_agent is None:
            return
        process = self._local_agent.process
        self._local_agent.terminate()
        try:
            await asyncio.wait_for(asyncio.to_thread(process.wait), timeout=self.options.stop_grace_s + _AGENT_EXIT_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("local_agent_killed", pid=process.pid)
            process.kill()
            process.wait()
