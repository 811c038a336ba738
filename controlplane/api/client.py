"""AppClient: the typed client of a running app's AppService, used by ``lightning-ctl status/state/logs/...``.

It returns plain types (``controlplane.app_view``) and raises :class:`ClientError` subclasses that carry the CLI's
exit code; ``grpc.aio.AioRpcError`` never leaves this module. The table, in one place (``_error_from_rpc``):

    UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED  ─► ControlPlaneUnreachableError   exit 3
    UNAUTHENTICATED, PERMISSION_DENIED         ─► TokenRefusedError              exit 4
    INVALID_ARGUMENT                           ─► InvalidRequestError            exit 2 (e.g. an ambiguous WORK)
    anything else                              ─► OperationFailedError           exit 1 (the app ended, ...)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, AsyncIterator, Sequence

import grpc
import structlog

from lightning_ctl.controlplane.api import app_codec
from lightning_ctl.controlplane.api.app_view import (
    AgentView,
    AppView,
    IssuedJoinToken,
    LogBatch,
    RevokedAgent,
)
from lightning_ctl.controlplane.errors import (
    ClientError,
    ControlPlaneUnreachableError,
    InvalidRequestError,
    OperationFailedError,
    TokenRefusedError,
)
from lightning_ctl.protos.lightning.v1 import app_pb2, app_pb2_grpc
from lightning_ctl.protos.transport import client_channel_options

log = structlog.get_logger(component="client")

DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Target:
    """Where a running app's control plane is and how to authenticate to it."""

    address: str
    """HOST:PORT."""
    token: str
    tls_ca: bytes | None = None
    """Trust this CA (PEM) for a control plane serving TLS; with None and no cert, a plain connection."""
    tls_cert: bytes | None = None
    """This client's certificate (PEM), for mutual TLS."""
    tls_key: bytes | None = None
    pid: int = 0
    """The control plane's pid when it was found through a run file on this machine, else 0."""

    @property
    def uses_tls(self) -> bool:
        """Whether to connect with TLS."""
        return self.tls_ca is not None or self.tls_cert is not None


def _error_from_rpc(exc: grpc.aio.AioRpcError, address: str, streaming: bool = False) -> ClientError:
    """The ClientError for a failed call (the one mapping table)."""
    code, details = exc.code(), (exc.details() or "").strip()
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        why = f": {details}" if details else ""
        return TokenRefusedError(f"the control plane at {address} refused the token{why}", address=address)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
        what = "lost the connection to" if streaming else "cannot reach"
        return ControlPlaneUnreachableError(f"{what} the control plane at {address}", address=address)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidRequestError(details or "invalid request", address=address)
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return OperationFailedError(
            f"the control plane at {address} does not serve this request (an older lightning-ctl?)",
            address=address,
        )
    first_line = details.splitlines()[0] if details else code.name.lower()
    return OperationFailedError(first_line, address=address)


class AppClient:
    """Calls one app's AppService; use as ``async with AppClient(target) as client``."""

    def __init__(self, target: Target, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        """Create the client (it connects on entering ``async with``).

        Args:
            target: Where the control plane is, and its token.
            timeout_s: Deadline of each unary call, in seconds.
        """
        self.target = target
        self.timeout_s = timeout_s
        self._metadata = (("authorization", f"Bearer {target.token}"),)
        self._channel: grpc.aio.Channel | None = None
        self._stub: app_pb2_grpc.AppServiceStub | None = None

    async def __aenter__(self) -> AppClient:
        target = self.target
        log.debug("connecting", address=target.address, tls=target.uses_tls, pid=target.pid or None)
        if target.uses_tls:
            credentials = grpc.ssl_channel_credentials(target.tls_ca, target.tls_key, target.tls_cert)
            self._channel = grpc.aio.secure_channel(target.address, credentials, options=client_channel_options())
        else:
            self._channel = grpc.aio.insecure_channel(target.address, options=client_channel_options())
        self._stub = app_pb2_grpc.AppServiceStub(self._channel)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._channel is not None:
            await self._channel.close()

    @property
    def stub(self) -> app_pb2_grpc.AppServiceStub:
        """The generated stub (inside ``async with`` only)."""
        if self._stub is None:
            raise RuntimeError("use AppClient inside `async with`")
        return self._stub

    async def _unary(self, method: Any, request: Any) -> Any:
        try:
            return await method(request, metadata=self._metadata, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise _error_from_rpc(exc, self.target.address) from None

    async def _stream(self, method: Any, request: Any) -> AsyncIterator[Any]:
        call = method(request, metadata=self._metadata)
        received = False
        try:
            async for message in call:
                received = True
                yield message
        except grpc.aio.AioRpcError as exc:
            raise _error_from_rpc(exc, self.target.address, streaming=received) from None
        finally:
            call.cancel()

    async def status(self) -> AppView:
        """The app's stage, works and agents."""
        return app_codec.app_from_pb(await self._unary(self.stub.GetStatus, app_pb2.GetStatusRequest()))

    async def state(self, full: bool = False) -> dict[str, Any]:
        """The app's state: the ``pretty_state`` view, or with ``full`` the whole state."""
        reply = await self._unary(self.stub.GetState, app_pb2.GetStateRequest(full=full))
        return json.loads(reply.state_json)

    async def watch_state(
        self, full: bool = False, interval_s: float = 0.0
    ) -> AsyncIterator[tuple[float, dict]]:
        """``(epoch seconds, state)`` now, then at each change, until the app ends.

        Args:
            full: The whole state rather than the ``pretty_state`` view.
            interval_s: How often the control plane looks for changes (0: its default, 0.2 s).
        """
        request = app_pb2.WatchStateRequest(full=full, interval_s=interval_s)
        async for reply in self._stream(self.stub.WatchState, request):
            yield reply.timestamp, json.loads(reply.state_json)

    async def logs(
        self,
        work_names: Sequence[str] = (),
        tail: int | None = None,
        since: float | None = None,
        follow: bool = False,
    ) -> AsyncIterator[LogBatch]:
        """Works' output lines, in batches: those kept, then with ``follow`` new ones until the app ends.

        Args:
            work_names: Full names or unambiguous suffixes; empty for every work.
            tail: Only the last ``tail`` kept lines (of those works together).
            since: Only lines received at or after this epoch second.
            follow: Keep streaming new lines.

        Raises:
            InvalidRequestError: a name matches no work, or several.
        """
        request = app_pb2.StreamLogsRequest(work_names=list(work_names), since=since or 0.0, follow=follow)
        if tail is not None:
            request.tail = tail
        async for batch in self._stream(self.stub.StreamLogs, request):
            yield app_codec.log_batch_from_pb(batch)

    async def stop(self, reason: str = "") -> None:
        """Ask the app to stop as ``flow.stop()`` does (its ``lightning-ctl run`` exits 0)."""
        await self._unary(self.stub.StopApp, app_pb2.StopAppRequest(reason=reason))

    async def agents(self) -> list[AgentView]:
        """The connected agents."""
        reply = await self._unary(self.stub.ListAgents, app_pb2.ListAgentsRequest())
        return [app_codec.agent_from_pb(a) for a in reply.agents]

    async def issue_join_token(
        self, ttl_s: float = 0.0, uses: int = 0, agent_name: str = "", labels: dict[str, str] | None = None,
        scope: str = "",
    ) -> IssuedJoinToken:
        """A join token for new agents (see ``lightning-ctl agents join-token``).

        Args:
            ttl_s: Seconds it stays valid (0: the control plane's default, one hour).
            uses: Registrations it allows (0: one).
            agent_name: The name the joining agent must have ("" for any).
            labels: Labels the joining agent gets.
            scope: Free text kept with the agent's credential.
        """
        request = app_pb2.IssueJoinTokenRequest(ttl_s=ttl_s, uses=uses, agent_name=agent_name, labels=labels or {},
                                                scope=scope)
        return app_codec.join_token_from_pb(await self._unary(self.stub.IssueJoinToken, request))

    async def revoke_agent(self, agent: str) -> RevokedAgent:
        """Revoke the credential of the agent named (or with the id) ``agent``; its stream ends at once.

        Raises:
            InvalidRequestError: no agent, or several, answer to ``agent``.
        """
        reply = await self._unary(self.stub.RevokeAgent, app_pb2.RevokeAgentRequest(agent=agent))
        return app_codec.revoked_from_pb(reply)
