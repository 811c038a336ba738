"""AppClient: the typed client of a running app's AppService, used by ``lightning-ctl status/state/logs/...``.

It returns plain types (``controlplane.app_view``) and raises :class:`ClientError` subclasses that carry the CLI's
exit code; ``grpc.aio.AioRpcError`` never leaves this module. The table, in one place (``_error_from_rpc``):

    UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED  ─► ControlPlaneUnreachableError   exit 3
    UNAUTHENTICATED                            ─► TokenRefusedError              exit 4
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
from lightning_ctl.controlplane.api.app_view import AgentView, AppView, LogBatch
from lightning_ctl.protos.lightning.v1 import app_pb2, app_pb2_grpc
from lightning_ctl.sdk.errors import LightningError

log = structlog.get_logger(component="client")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_AUTH_REFUSED = 4

DEFAULT_TIMEOUT_S = 10.0
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.http2.ping_timeout_ms", 5_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_receive_message_length", 64 * 2**20),
]


class ClientError(LightningError):
    """A call to the control plane failed; ``exit_code`` is what the CLI exits with."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, address: str = "") -> None:
        """Create the error.

        Args:
            message: One line for the user, naming the address or the thing at fault.
            address: The control plane's HOST:PORT.
        """
        super().__init__(message)
        self.address = address


class ControlPlaneUnreachableError(ClientError):
    """Nothing answers at the address, or the connection broke (exit status 3)."""

    exit_code = EXIT_UNREACHABLE


class TokenRefusedError(ClientError):
    """The control plane refused the token (exit status 4)."""

    exit_code = EXIT_AUTH_REFUSED


class InvalidRequestError(ClientError):
    """The control plane rejected what was asked, e.g. a WORK that names no work or several (exit status 2)."""

    exit_code = EXIT_USAGE


class OperationFailedError(ClientError):
    """The control plane could not do it, e.g. the app has ended (exit status 1)."""

    exit_code = EXIT_FAILED


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
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return TokenRefusedError(f"the control plane at {address} refused the token", address=address)
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
            self._channel = grpc.aio.secure_channel(target.address, credentials, options=CHANNEL_OPTIONS)
        else:
            self._channel = grpc.aio.insecure_channel(target.address, options=CHANNEL_OPTIONS)
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
