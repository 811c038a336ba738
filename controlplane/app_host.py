"""AppHost: one ``lightning-ctl run``: the server, the local agent, the flow loop, and a clean end.

    open the checkpoint ─► load the app (a thread) ─► bind and serve ─► flow loop ─► ... ─► app ended
                                                                                              │
          stop works (in the loop's teardown) ◄────────────────────────────────────────────────┘
          ─► stop the local agent ─► stop the server ─► exit status

Nothing listens and nothing is recorded as running before the app has loaded: a run that fails to load leaves
no checkpoint to resume. A first Ctrl-C (SIGTERM, ``lightning-ctl stop``) stops the app gracefully: works get
SIGTERM and ``--stop-grace``; a second one kills the works still running at once, naming them, and ends the run
even if a flow never returns.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from typing import Any, Callable, TypeVar

import structlog

from lightning_ctl.controlplane.agents.app_bundle import AppBundle
from lightning_ctl.controlplane.agents.local_agent import LocalAgent
from lightning_ctl.controlplane.agents.locations import WorkLocations
from lightning_ctl.controlplane.agents.registry import AgentRegistry
from lightning_ctl.controlplane.api.agent_service import AgentServicer
from lightning_ctl.controlplane.api.app_service import AppServicer
from lightning_ctl.controlplane.api.connection_limits import DescriptorWatch
from lightning_ctl.controlplane.api.server import build_server
from lightning_ctl.controlplane.api.storage_service import StorageServicer
from lightning_ctl.controlplane.credential_store import CredentialStore
from lightning_ctl.controlplane.credentials import LOOPBACK_HOSTS
from lightning_ctl.controlplane.errors import CheckpointError, PortInUseError
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
from lightning_ctl.sdk._tasks import TaskOwner

log = structlog.get_logger(component="app_host")

_AGENT_EXIT_TIMEOUT_S = 5.0
_LOCAL_JOIN_TTL_S = 3600.0
_DESCRIPTOR_CHECK_S = 1.0
FORCED_END_S = 5.0
"""After a second stop request, how long the killed works get to report their exits before the run ends anyway."""
_SIGNALS = ((signal.SIGINT, ExitCode.INTERRUPTED, "interrupted (Ctrl-C)"),
            (signal.SIGTERM, ExitCode.TERMINATED, "terminated (SIGTERM)"))
T = TypeVar("T")


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
        self.registry = AgentRegistry(report_pending=self._deliver, bundle=AppBundle(options.app_path),
                                      report_unreachable=self._deliver,
                                      heartbeat_interval_s=options.heartbeat_interval_s)
        self._flow_loop: FlowLoop | None = None
        self._local_agent = local_agent
        self.log_store = LogStore()
        self.queries = QueryBox(self._submit_query)
        self._tasks = TaskOwner(on_error=lambda name, exc: log.error("task_failed", task=name, error=repr(exc)))
        self._stop_requests = 0
        self._local_agent_stopped = False
        self._ended: asyncio.Future[AppEnded] | None = None
        """Resolved when the app ends: by the flow loop, or by a stop before the flows run or forced after one."""

    def _deliver(self, event: object) -> None:
        if self._flow_loop is not None:
            self._flow_loop.inbox.put(event)  # type: ignore[arg-type]

    async def run(self) -> int:
        """Load the app, serve, run it, tear everything down; the app's exit status."""
        loop = asyncio.get_running_loop()
        self._ended = loop.create_future()
        for sig, code, reason in _SIGNALS:
            loop.add_signal_handler(sig, self._on_stop_request, code, reason)
        try:
            ended = await self._load_and_run(loop)
        finally:
            await self._stop_local_agent()
            self.console.close()
        if ended.message:
            print(ended.message, file=sys.stderr, flush=True)
        log.info("app_ended", exit_code=ended.exit_code)
        return ended.exit_code

    async def _load_and_run(self, loop: asyncio.AbstractEventLoop) -> AppEnded:
        """Everything between the checkpoint's opening and its closing."""
        opts = self.options
        plan = await asyncio.to_thread(plan_resume, opts.app_path, opts.port, opts.fresh)
        try:
            os.environ.update(opts.env)
            loaded = await self._unless_stopped(_in_daemon_thread(lambda: load_app(opts.app_path)[0]))
            if loaded is None:
                assert self._ended is not None
                return self._ended.result()  # stopped while loading: nothing was started
            self.registry.locations = WorkLocations(app_home(opts.app_path) / "locations.json",
                                                    resume=plan.saved is not None)
            servicer = AgentServicer(self.registry, self._deliver, self._on_lines, self.credentials,
                                     opts.heartbeat_interval_s, opts.max_attribute_bytes)
            app_servicer = AppServicer(self.registry, self.log_store, self.queries, self._stop_by_operator,
                                       self.credentials, os.path.abspath(opts.app_path), opts.heartbeat_interval_s)
            storage = StorageServicer(await self._open_store(resumed=plan.saved is not None), self.credentials)
            server, port, local_port = self._bind(plan, servicer, app_servicer, storage)
        except BaseException:
            plan.checkpoint.close()
            raise
        await server.start()
        try:
            plan.checkpoint.begin(os.getpid(), port, resumed=plan.saved is not None)
            self._tasks.spawn(self._check_liveness(opts.heartbeat_interval_s), "liveness")
            self._tasks.spawn(self._watch_descriptors(), "descriptors")
            self._announce(port)
            if self._local_agent is not None:
                local_join = self.credentials.issue_join_token(ttl_s=_LOCAL_JOIN_TTL_S, agent_name="local",
                                                               is_local=True)
                self._local_agent.send_address(f"127.0.0.1:{local_port}", local_join.token)
            self._write_run_file(_client_address(opts.host, port, local_port, opts.tls is not None))
            ended = await self._run_app(loaded[0], loop, plan)
            try:
                plan.checkpoint.end()
            except CheckpointError as exc:
                log.error("checkpoint_not_closed", error=str(exc))
            return ended
        except CheckpointError as exc:
            return AppEnded(1, str(exc))
        finally:
            self.queries.close()
            self.log_store.close()
            app_servicer.close()
            remove_run_file(os.getpid())
            await self._tasks.close()
            await self._stop_local_agent()
            await self._close_agent_streams()
            await server.stop(grace=1.0)
            plan.checkpoint.close()

    def _bind(self, plan: ResumePlan, servicer: AgentServicer, app_servicer: AppServicer,
              storage: StorageServicer) -> tuple[Any, int, int]:
        """The server, bound on the resumed run's port when there is one (else, or if it is taken, the asked one)."""
        opts = self.options
        try:
            return build_server(servicer, self.credentials, opts.host, plan.port, opts.tls, app_servicer, storage)
        except PortInUseError:
            if plan.port == opts.port:
                raise
            log.warning("previous_port_taken", port=plan.port, hint="agents must be pointed at the new port")
            return build_server(servicer, self.credentials, opts.host, opts.port, opts.tls, app_servicer, storage)

    def _announce(self, port: int) -> None:
        opts = self.options
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

    async def _unless_stopped(self, work: asyncio.Future[T]) -> tuple[T] | None:
        """``(result,)`` of ``work``, or None if a stop was requested first (``work`` is then left to finish)."""
        assert self._ended is not None
        await asyncio.wait([work, self._ended], return_when=asyncio.FIRST_COMPLETED)
        if work.done():
            return (work.result(),)
        work.add_done_callback(lambda f: f.cancelled() or f.exception())  # its outcome no longer matters
        return None

    async def _run_app(self, app: LightningApp, loop: asyncio.AbstractEventLoop, plan: ResumePlan) -> AppEnded:
        assert self._ended is not None
        ended = self._ended
        if ended.done():
            return ended.result()  # stopped before the flows ran
        runtime = FlowRuntime(os.path.abspath(self.options.app_path), self.options.env, self.options.stop_grace_s)
        if plan.saved is not None:
            restore(app, runtime, plan.saved)
        self._flow_loop = FlowLoop(
            app,
            runtime,
            send_commands=lambda commands: _call_soon(loop, self.registry.route, commands),
            on_end=lambda result: _call_soon(loop, _settle, ended, result),
            checkpoint=plan.checkpoint,
        )
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
        """``lightning-ctl stop``: end the app as ``flow.stop()`` does (exit status 0); a second one forces it."""
        self._on_stop_request(0, reason)

    def _on_stop_request(self, exit_code: int, reason: str) -> None:
        """A signal or an operator's stop: the first stops the app gracefully; the flow loop, already ending, takes
        the next ones (or any, once the app ends by itself) as an order to kill the works still running, and the run
        ends soon even if a flow never returns."""
        self._stop_requests += 1
        assert self._ended is not None
        if self._flow_loop is None:
            log.info("app_stopping", reason=reason)
            _settle(self._ended, AppEnded(exit_code, reason))  # nothing was started
            return
        if self._stop_requests > 1 or self._flow_loop.ending:
            self._force_end(exit_code, reason)
        else:
            log.info("app_stopping", reason=reason)
        self._flow_loop.inbox.put(StopRequested(exit_code, reason))

    def _force_end(self, exit_code: int, reason: str) -> None:
        """End the run within FORCED_END_S whatever the flows do, and have the local agent kill what it runs."""
        log.warning("app_stop_forced", reason=reason, ends_within_s=FORCED_END_S)
        if self._local_agent is not None:
            self._local_agent.terminate()  # its second SIGTERM (see _stop_local_agent) kills its works at once
        assert self._ended is not None
        asyncio.get_running_loop().call_later(FORCED_END_S, _settle, self._ended, AppEnded(exit_code, reason))

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
        """Declare agents silent past their limit disconnected (``agents.liveness``), and their works lost once
        their grace period is over."""
        while True:
            await asyncio.sleep(heartbeat_interval_s / 2)
            self.registry.check_liveness()
            for lost in self.registry.find_lost(self.options.agent_lost_grace_s):
                self._deliver(lost)

    async def _watch_descriptors(self) -> None:
        """Say once, with advice, when this process runs low on file descriptors."""
        watch = DescriptorWatch(lambda count, limit: log.warning(
            "file_descriptors_running_out", open=count, limit=limit,
            hint="raise the open-files limit (ulimit -n, or LimitNOFILE= for a service); until then new "
                 "connections may be refused"))
        while True:
            await asyncio.sleep(_DESCRIPTOR_CHECK_S)
            watch.check()

    async def _stop_local_agent(self) -> None:
        """Stop the local agent and wait for it (idempotent); it stops the works still running first.

        A local agent kept from a crashed run is left alone when this run ends before its flows ran (it failed to
        load, say): its works are the previous run's, still to be resumed.
        """
        agent = self._local_agent
        if agent is None or self._local_agent_stopped:
            return
        self._local_agent_stopped = True
        if agent.process is None and self._flow_loop is None:
            log.info("local_agent_left_running", pid=agent.pid, reason="the app did not start: its works wait")
            return
        agent.terminate()
        if not await asyncio.to_thread(agent.wait, self.options.stop_grace_s + _AGENT_EXIT_TIMEOUT_S):
            log.warning("local_agent_killed", pid=agent.pid)
            agent.kill()
            await asyncio.to_thread(agent.wait, _AGENT_EXIT_TIMEOUT_S)


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    """``fn(*args)`` on ``loop``, from another thread; dropped once the loop is closed (the run has ended)."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:
        pass


def _settle(future: asyncio.Future[T], result: T) -> None:
    if not future.done():
        future.set_result(result)


def _in_daemon_thread(fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Run ``fn(*args)`` on a daemon thread: the event loop goes on, and the process may exit without waiting for
    it (an app whose import hangs must not keep Ctrl-C from ending the run)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def main() -> None:
        try:
            result, error = fn(*args), None
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
            result, error = None, exc
        _call_soon(loop, settle, result, error)

    threading.Thread(target=main, name=f"{getattr(fn, '__name__', 'task')}-thread", daemon=True).start()
    return future
