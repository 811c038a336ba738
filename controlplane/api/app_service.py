"""AppServicer: the operator's service (``lightning-ctl status/state/logs/stop/agents``) of a running app.

Runs on the asyncio thread. What the flow thread owns (the app's state, works' statuses, their processes) is read
there through a query between ticks (``controlplane.queries``); what the asyncio thread owns (agents,
placements, kept output) is read here directly. Domain errors become gRPC status codes in one place,
``_maps_errors``: a bad WORK is INVALID_ARGUMENT, an app that ended FAILED_PRECONDITION, a busy flow ABORTED.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any, Awaitable, Callable, Iterable, Iterator

import grpc
import structlog

from lightning_ctl.controlplane.agents.registry import AgentRegistry
from lightning_ctl.controlplane.api import app_codec
from lightning_ctl.controlplane.api.app_view import LogBatch, LogLine, RequestView, RevokedAgent, WorkView
from lightning_ctl.controlplane.api.names import resolve_work_names
from lightning_ctl.controlplane.api.views import AppViews
from lightning_ctl.controlplane.credential_store import DEFAULT_JOIN_TTL_S, CredentialStore
from lightning_ctl.controlplane.errors import AgentNotFoundError, AppEndedError, FlowBusyError, WorkNameError
from lightning_ctl.controlplane.flows.queries import QueryBox
from lightning_ctl.controlplane.output.log_store import MAX_CHARS_PER_BATCH, LogStore
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import app_pb2, app_pb2_grpc
from lightning_ctl.sdk._component import to_json
from lightning_ctl.sdk._pretty import pretty_state
from lightning_ctl.sdk._status import WorkStageStatus

log = structlog.get_logger(component="app_service")

WATCH_INTERVAL_S = 0.2
_WATCH_INTERVAL_BOUNDS_S = (0.05, 60.0)
DEFAULT_STOP_REASON = "stopped by lightning-ctl stop"
_STARTED_STAGES = (WorkStageStatus.STARTED.value, WorkStageStatus.RUNNING.value)

_STATUS_OF: dict[type[Exception], grpc.StatusCode] = {
    WorkNameError: grpc.StatusCode.INVALID_ARGUMENT,
    AgentNotFoundError: grpc.StatusCode.INVALID_ARGUMENT,
    codec.CodecError: grpc.StatusCode.INVALID_ARGUMENT,
    AppEndedError: grpc.StatusCode.FAILED_PRECONDITION,
    FlowBusyError: grpc.StatusCode.ABORTED,
}


# -- reads on the flow thread (each returns plain values it built) --------------------------------------------------


def read_works(app: Any, runtime: Any) -> tuple[str, list[WorkView]]:
    """The app's stage and each work's status and process (placement is filled in on the asyncio thread)."""
    works = []
    for work in app.works:
        statuses = work.statuses
        status = statuses[-1] if statuses else None
        process = runtime.works.get(work.name)
        works.append(
            WorkView(
                work_name=work.name,
                stage=status.stage if status else WorkStageStatus.NOT_STARTED.value,
                reason=(status.reason or "") if status else "",
                message=(status.message or "") if status else "",
                status_timestamp=status.timestamp if status else 0.0,
                started_at=next((s.timestamp for s in statuses if s.stage in _STARTED_STAGES), 0.0),
                attempt=process.attempt if process else 0,
                pid=(process.pid or 0) if process else 0,
                process_exited=bool(process and process.exited),
                url=work._url,
            )
        )
    return str(app.stage.value), works


def read_work_names(app: Any, runtime: Any) -> list[str]:
    """The full name of every work."""
    return [work.name for work in app.works]


def read_state_json(full: bool) -> Callable[[Any, Any], str]:
    """A read of the app's state as JSON: the full state, or the ``pretty_state`` view."""

    def read(app: Any, runtime: Any) -> str:
        state = app.state
        return to_json(state if full else {**pretty_state(state), "app_state": state["app_state"]})

    return read


# -- the servicer ------------------------------------------------------------------------------------------------


def _maps_errors(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Turn the domain errors a handler raises into their gRPC status (the one table, ``_STATUS_OF``)."""

    @functools.wraps(handler)
    async def wrapper(self: AppServicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await handler(self, request, context)
        except tuple(_STATUS_OF) as exc:
            code = next(c for t, c in _STATUS_OF.items() if isinstance(exc, t))
            await context.abort(code, str(exc))

    return wrapper


class AppServicer(app_pb2_grpc.AppServiceServicer):
    """Serves the app's status, state, output and agents, and stops it on request."""

    def __init__(
        self,
        registry: AgentRegistry,
        log_store: LogStore,
        queries: QueryBox,
        request_stop: Callable[[str], None],
        credentials: CredentialStore,
        app_path: str = "",
        heartbeat_interval_s: float = 2.0,
        requests: Callable[[], list[RequestView]] | None = None,
        http_url: Callable[[], str] = lambda: "",
    ) -> None:
        self._registry = registry
        self._views = AppViews(registry, app_path, heartbeat_interval_s, requests, http_url)
        self._credentials = credentials
        self._log_store = log_store
        self._queries = queries
        self._request_stop = request_stop
        self._closed = asyncio.Event()

    def close(self) -> None:
        """The app ended: end the state watches (log streams end with the log store)."""
        self._closed.set()

    # -- unary ----------------------------------------------------------------------------------------------------

    @_maps_errors
    async def GetStatus(  # noqa: N802
        self, request: app_pb2.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> app_pb2.AppStatus:
        """The app's stage, its works and its agents."""
        stage, works = await self._queries.ask(read_works)
        return app_codec.app_to_pb(self._views.app_view(stage, works))

    @_maps_errors
    async def GetState(  # noqa: N802
        self, request: app_pb2.GetStateRequest, context: grpc.aio.ServicerContext
    ) -> app_pb2.AppState:
        """The app's state as JSON: the pretty_state view, or with ``full`` the whole state."""
        text = await self._queries.ask(read_state_json(request.full))
        return app_pb2.AppState(state_json=text, timestamp=time.time())

    @_maps_errors
    async def StopApp(  # noqa: N802
        self, request: app_pb2.StopAppRequest, context: grpc.aio.ServicerContext
    ) -> app_pb2.StopAppResponse:
        """Stop the app gracefully, as a flow calling ``self.stop()`` would."""
        reason = request.reason or DEFAULT_STOP_REASON
        log.info("app_stop_requested", reason=reason, peer=context.peer())
        self._request_stop(reason)
        return app_pb2.StopAppResponse()

    @_maps_errors
    async def ListAgents(  # noqa: N802
        self, request: app_pb2.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> app_pb2.AgentList:
        """The agents, connected or requested from an engine."""
        return app_pb2.AgentList(agents=[app_codec.agent_to_pb(a) for a in self._views.agent_views()])

    @_maps_errors
    async def IssueJoinToken(  # noqa: N802
        self, request: app_pb2.IssueJoinTokenRequest, context: grpc.aio.ServicerContext
    ) -> app_pb2.JoinToken:
        """A join token a new agent presents once to get its own credential."""
        if not (request.ttl_s == 0 or 0 < request.ttl_s < float("inf")):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"ttl_s: must be a positive number of seconds, "
                                                                  f"got {request.ttl_s!r}")
        if request.uses < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"uses: must be >= 1, got {request.uses}")
        issued = self._credentials.issue_join_token(
            ttl_s=request.ttl_s or DEFAULT_JOIN_TTL_S,
            uses=request.uses or 1,
            agent_name=request.agent_name,
            labels=codec.labels_from_pb(request.labels, "labels"),
            scope=request.scope,
        )
        return app_codec.join_token_to_pb(issued)

    @_maps_errors
    async def RevokeAgent(  # noqa: N802
        self, request: app_pb2.RevokeAgentRequest, context: grpc.aio.ServicerContext
    ) -> app_pb2.RevokeAgentResponse:
        """Revoke an agent's credential and close its stream if it is connected."""
        record = self._credentials.revoke_agent(request.agent)
        session = self._registry.agents.get(record.agent_id)
        if session is not None:
            session.close("its credential was revoked")
        log.warning("agent_revoked_by_operator", agent_id=record.agent_id, name=record.name, peer=context.peer())
        return app_codec.revoked_to_pb(RevokedAgent(record.agent_id, record.name, session is not None))

    # -- streams --------------------------------------------------------------------------------------------------

    @_maps_errors
    async def WatchState(  # noqa: N802
        self, request: app_pb2.WatchStateRequest, context: grpc.aio.ServicerContext
    ) -> None:
        """The app's state each time it changed, looked at every ``interval_s`` seconds."""
        if request.interval_s != request.interval_s or request.interval_s < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"interval_s: must be a number of seconds >= 0, got {request.interval_s}")
        low, high = _WATCH_INTERVAL_BOUNDS_S
        interval_s = min(max(request.interval_s or WATCH_INTERVAL_S, low), high)
        read = read_state_json(request.full)
        last = None
        while not self._closed.is_set():
            try:
                text = await self._queries.ask(read)
            except AppEndedError:
                return
            except FlowBusyError:
                if last is None:
                    raise
                text = last  # a slow tick: look again at the next interval
            if text != last:
                await context.write(app_pb2.AppState(state_json=text, timestamp=time.time()))
                last = text
            try:
                await asyncio.wait_for(self._closed.wait(), interval_s)
            except asyncio.TimeoutError:
                pass

    @_maps_errors
    async def StreamLogs(  # noqa: N802
        self, request: app_pb2.StreamLogsRequest, context: grpc.aio.ServicerContext
    ) -> None:
        """What works wrote to stdout and stderr, then (with ``follow``) what they write next."""
        tail = request.tail if request.HasField("tail") else None
        if tail is not None and tail < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"tail: must be >= 0, got {tail}")
        if request.since != request.since or request.since < 0:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"since: must be an epoch second, got {request.since}")
        names = await self._resolve(request.work_names) if request.work_names else None
        # Subscribing and reading what is kept happen with no await between: no line is missed or sent twice.
        subscription = self._log_store.subscribe(names) if request.follow else None
        try:
            backlog = self._log_store.lines(names, tail, request.since or None)
            for chunk in _chunks(backlog):
                await context.write(app_codec.log_batch_to_pb(LogBatch(tuple(chunk))))
            if subscription is None:
                return
            while (batch := await subscription.next_batch()) is not None:
                await context.write(app_codec.log_batch_to_pb(batch))
        finally:
            if subscription is not None:
                self._log_store.unsubscribe(subscription)

    async def _resolve(self, patterns: Iterable[str]) -> list[str]:
        known = set(self._log_store.work_names())
        try:
            known.update(await self._queries.ask(read_work_names))
        except (AppEndedError, FlowBusyError):
            pass  # the works that printed something can still be named
        return resolve_work_names(patterns, known)

def _chunks(lines: list[LogLine]) -> Iterator[list[LogLine]]:
    """``lines`` in batches that stay well under gRPC's message size limit."""
    chunk: list[LogLine] = []
    chars = 0
    for line in lines:
        if chunk and chars + len(line.text) > MAX_CHARS_PER_BATCH:
            yield chunk
            chunk, chars = [], 0
        chunk.append(line)
        chars += len(line.text)
    if chunk:
        yield chunk
