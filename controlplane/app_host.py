"""AppHost: one ``lightning-ctl run``: the servers, the local agent, the flow loop, and a clean end.

    open the checkpoint ─► load the app (a thread) ─► bind and serve ─► flow loop ─► ... ─► app ended
                                                        (HTTP once the flows ran)             │
          stop works (in the loop's teardown) ◄────────────────────────────────────────────────┘
          ─► stop HTTP, providers, the local agent ─► stop the server ─► exit status

Nothing but the HTTP port (reserved first: the app may read it as it loads) listens, and nothing is recorded as
running, before the app has loaded: a run that fails to load leaves no checkpoint to resume. A first Ctrl-C
(SIGTERM, ``lightning-ctl stop``) stops the app gracefully: works get SIGTERM and ``--stop-grace``; a second one
kills the works still running at once, naming them, and ends the run even if a flow never returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, TypeVar

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
from lightning_ctl.controlplane.api.tunnels import TunnelBroker
from lightning_ctl.controlplane.api.views import AppViews
from lightning_ctl.controlplane.credential_store import CredentialStore
from lightning_ctl.controlplane.credentials import LOOPBACK_HOSTS
from lightning_ctl.controlplane.errors import AppEndedError, CheckpointError, FlowBusyError, PortInUseError
from lightning_ctl.controlplane.flows.flow_runtime import FlowRuntime
from lightning_ctl.controlplane.flows.loop import START_WAIT_S, AppEnded, FlowLoop, StopRequested
from lightning_ctl.controlplane.flows.queries import Query, QueryBox
from lightning_ctl.controlplane.flows.resume import ResumePlan, plan_resume, restore
from lightning_ctl.controlplane.flows.state_watch import StateWatch
from lightning_ctl.controlplane.home import app_home
from lightning_ctl.controlplane.http import hosting, listener
from lightning_ctl.controlplane.http.auth import API_PERMISSION, WORKS_KEY_SUBJECT, work_credential
from lightning_ctl.controlplane.options import RunOptions
from lightning_ctl.controlplane.output.console import Console
from lightning_ctl.controlplane.output.log_store import LogStore
from lightning_ctl.controlplane.providers.manager import ProviderManager
from lightning_ctl.controlplane.run_file import RunInfo, remove_run_file, write_run_file
from lightning_ctl.controlplane.storage import open_store, record_store, start_afresh
from lightning_ctl.controlplane.storage.coordinator import StorageCoordinator
from lightning_ctl.sdk._app import LightningApp
from lightning_ctl.sdk._app_server import CREDENTIAL_VAR as API_CREDENTIAL_VAR
from lightning_ctl.sdk._events import LinesLogged, PlacementPending
from lightning_ctl.sdk._exit_codes import ExitCode
from lightning_ctl.sdk._loader import load_app
from lightning_ctl.sdk._tasks import TaskOwner, cancel_and_wait

if TYPE_CHECKING:
    from lightning_ctl.controlplane.http.server import HttpServer

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
                 console: Console | None = None, http_socket: socket.socket | None = None) -> None:
        if not options.token:
            raise ValueError("RunOptions.token must be set")
        self.options = options
        self._app_path = os.path.abspath(options.app_path)
        """The app file's absolute path (resolved here: the async methods that need it do no file-system work)."""
        self.token = options.token
        self.console = console or Console()
        self.credentials = CredentialStore(options.token, app_home(options.app_path) / "credentials.json")
        if options.join_token:
            self.credentials.accept_static_join_token(options.join_token)
        self.registry = AgentRegistry(report_pending=self._report_pending, bundle=AppBundle(options.app_path),
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
        self.state_watch = StateWatch()
        self._http: HttpServer | None = None
        self._http_socket = http_socket
        """The HTTP port, reserved by ``lightning-ctl run`` before the local agent (else reserved in ``run``)."""
        self._first_change_seen = asyncio.Event()
        self._tunnels: TunnelBroker | None = None
        self._loading_web: asyncio.Future[None] | None = None
        self.providers = self._make_providers() if options.provider else None

    def _make_providers(self) -> ProviderManager:
        """Agents on demand (``--provider``): the engine's options are checked here, before anything starts."""
        from lightning_ctl.controlplane.providers import make_provider

        assert self.options.provider is not None
        folder = app_home(self.options.app_path)
        provider = make_provider(self.options.provider, folder)
        return ProviderManager(provider, self.options.provider, self.registry, self._deliver, folder,
                               self.credentials)

    def _report_pending(self, pending: PlacementPending) -> None:
        """Why a work waits: the registry's reason, with what the provider is doing about it (``--provider``)."""
        self._deliver(self.providers.explain(pending) if self.providers is not None else pending)

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
        resumed = plan.saved is not None
        try:
            if self._http_socket is None:
                self._http_socket = listener.reserve_port(opts)
            # Before the import: the app's processes read its server's address as they load it (APP_SERVER_PORT).
            os.environ.update({**opts.env, **listener.server_address_env(opts, self._http_socket)})
            loaded = await self._unless_stopped(_in_daemon_thread(lambda: load_app(opts.app_path)[0]))
            if loaded is None:  # stopped while loading: nothing was started
                assert self._ended is not None
                plan.checkpoint.close()
                await self._close_http(None)
                return self._ended.result()
            os.environ.update(self._issue_works_key(resumed))
            self.registry.locations = WorkLocations(app_home(opts.app_path) / "locations.json", resume=resumed)
            servicer = AgentServicer(self.registry, self._deliver, self._on_lines, self.credentials,
                                     opts.heartbeat_interval_s, opts.max_attribute_bytes)
            self._tunnels = servicer.tunnels
            app_servicer = AppServicer(self.registry, self.log_store, self.queries, self._stop_by_operator,
                                       self.credentials, self._app_path, opts.heartbeat_interval_s,
                                       self.providers.views if self.providers else None, self._http_url)
            storage = StorageServicer(await self._open_store(resumed=resumed), self.credentials)
            server, port, local_port = self._bind(plan, servicer, app_servicer, storage)
        except BaseException:
            plan.checkpoint.close()
            if self._http_socket is not None:
                self._http_socket.close()
            raise
        await server.start()
        ended: AppEnded | None = None
        try:
            plan.checkpoint.begin(os.getpid(), port, resumed=resumed)
            self._tasks.spawn(self._check_liveness(opts.heartbeat_interval_s), "liveness")
            self._tasks.spawn(self._watch_descriptors(), "descriptors")
            self._announce(port)
            if self.providers is not None:
                await self._start_providers(port, resumed=resumed)
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
            ended = AppEnded(1, str(exc))
            return ended
        finally:
            await self._close_http(ended)
            self.queries.close()
            self.log_store.close()
            app_servicer.close()
            remove_run_file(os.getpid())
            await self._tasks.close()
            if self.providers is not None:
                await self.providers.stop()
            await self._stop_local_agent()
            await self._close_agent_streams()
            await server.stop(grace=1.0)
            plan.checkpoint.close()

    async def _close_http(self, ended: AppEnded | None) -> None:
        """Tell the HTTP clients how the app ended and stop serving (or free the port it never served on)."""
        if self._http is not None:
            self._http.close(ended.exit_code if ended else 1, ended.message if ended else "")
            await self._http.stop()
        elif self._http_socket is not None:
            self._http_socket.close()

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
        either: list[asyncio.Future[Any]] = [work, self._ended]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if work.done():
            return (work.result(),)
        work.add_done_callback(lambda f: f.cancelled() or f.exception())  # its outcome no longer matters
        return None

    async def _run_app(self, app: LightningApp, loop: asyncio.AbstractEventLoop, plan: ResumePlan) -> AppEnded:
        assert self._ended is not None
        ended = self._ended
        if ended.done():
            return ended.result()  # stopped before the flows ran
        env = {**self.options.env, **listener.server_address_env(self.options, self._http_socket)}
        runtime = FlowRuntime(self._app_path, env, self.options.stop_grace_s,
                              last_attempts=plan.checkpoint.attempts())
        if plan.saved is not None:
            restore(app, runtime, plan.saved)
        self._flow_loop = FlowLoop(
            app,
            runtime,
            send_commands=lambda commands: _call_soon(loop, self.registry.route, commands),
            on_end=lambda result: _call_soon(loop, _settle, ended, result),
            checkpoint=plan.checkpoint,
            resumed=plan.saved is not None,
            state_watch=self.state_watch,
        )
        self.state_watch.attach(lambda: _call_soon(loop, self._first_change_seen.set))
        self._flow_loop.start()
        serving = self._tasks.spawn(self._serve_http(), "http") if self._http_socket is not None else None
        try:
            return await ended
        finally:
            if serving is not None:  # the app ended before it was served: stop trying (no query would be answered)
                if self._loading_web is not None:
                    # A load under way finishes first: it would take the CPU from the teardown (works' last output).
                    await asyncio.gather(self._loading_web, return_exceptions=True)
                await cancel_and_wait(serving)

    async def _serve_http(self) -> None:
        """Start the HTTP server, serve the app's routes and frontends, print the view's URL.

        It waits for the flows' first change of the state (their works started, or they ran): loading the web
        framework takes ~0.15 s of this process's CPU, and then does not delay the works started with the flow.
        """
        try:
            await asyncio.wait_for(self._first_change_seen.wait(), START_WAIT_S + 1.0)
        except asyncio.TimeoutError:
            pass
        self.state_watch.attach(None)
        self._loading_web = asyncio.ensure_future(hosting.load_web())
        try:
            await asyncio.shield(self._loading_web)
            views = AppViews(self.registry, self._app_path, self.options.heartbeat_interval_s,
                             self.providers.views if self.providers else None, self._http_url)
            assert self._http_socket is not None and self._tunnels is not None
            self._http = await hosting.start_http(self.options, self._http_socket, self.credentials, self.queries,
                                                  views, self.log_store, self._stop_by_operator, self.state_watch,
                                                  self._app_path, self.registry, self._tunnels.open)
            await hosting.serve_app(self._http, self.queries)
            hosting.announce(self._http)
        except hosting.AppServeError as exc:
            self._on_stop_request(1, str(exc))
        except OSError as exc:  # e.g. the TLS files became unreadable: the app cannot be served as asked
            self._on_stop_request(1, f"the HTTP server could not start: {exc}")
        except (AppEndedError, FlowBusyError):
            pass  # the app ended (or hangs) before it could be served: its end says why

    def _http_url(self) -> str:
        """The app's HTTP address (what ``/works/<name>/`` hangs off), "" without HTTP."""
        try:
            return listener.http_url(self.options, self._http_socket)
        except OSError:  # closed: the app is ending
            return ""

    def _issue_works_key(self, resumed: bool) -> dict[str, str]:
        """Mint the app's works' key to its HTTP API (a scoped key with only the ``api`` permission).

        Returns the environment that hands it to this process's own children (frontends), empty without HTTP.

        Every launch carries it to its work's process alone (the registry adds it as it ships the launch). It is
        kept across a restart of the control plane, as the works holding it may outlive one; a run that does not
        resume first revokes the keys of earlier runs.
        """
        if self._http_socket is None:
            return {}
        if not resumed:
            self.credentials.forget_scoped_keys(WORKS_KEY_SUBJECT)
        credential = work_credential(self.credentials.issue_scoped_key(WORKS_KEY_SUBJECT, {API_PERMISSION},
                                                                       keep=True))
        self.registry.works_credential = credential
        return {API_CREDENTIAL_VAR: credential}

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

    async def _start_providers(self, port: int, resumed: bool) -> None:
        assert self.providers is not None and self.options.provider is not None
        address = f"{_advertised(self.options.host)}:{port}"
        if self.options.host in LOOPBACK_HOSTS and self.options.provider.engine != "local" \
                and not self.options.provider.get("control-plane"):
            log.warning("provider_agents_dial_loopback", address=address, engine=self.options.provider.engine,
                        hint="agents on other machines cannot reach it: pass --host 0.0.0.0 (with --tls-cert) or "
                             "--provider-option control-plane=HOST:PORT")
        await self.providers.start(address, resumed)

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
        """A signal or an operator's stop: the first stops the app gracefully.

        The flow loop, already ending, takes the next ones (or any, once the app ends by itself) as an order
        to kill the works still running, and the run ends soon even if a flow never returns.
        """
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
        info = RunInfo(address, self.token, os.getpid(), os.path.abspath(self.options.app_path), time.time(),
                       listener.http_url(self.options, self._http_socket))
        try:
            write_run_file(info)
        except OSError as exc:
            log.warning("run_file_not_written", error=str(exc),
                        hint="lightning-ctl status/logs/stop need --address and --token")

    async def _close_agent_streams(self) -> None:
        """End the agents' streams ourselves, so that none is cut by the server's shutdown."""
        all_gone = asyncio.Event()
        self.registry.watch(lambda: None if self.registry.agents else all_gone.set())
        self.registry.close_all("the control plane is stopping")
        if self.registry.agents:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(all_gone.wait(), timeout=1.0)

    async def _check_liveness(self, heartbeat_interval_s: float) -> None:
        """Declare agents silent past their limit disconnected, and their works lost after their grace period.

        The limit is kept by ``agents.liveness``.
        """
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
    """Run ``fn(*args)`` on a daemon thread: the event loop goes on.

    The process may exit without waiting for it (an app whose import hangs must not keep Ctrl-C from ending
    the run).
    """
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
