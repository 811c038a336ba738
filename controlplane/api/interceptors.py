"""AuthInterceptor: every call and stream is authenticated, and each kind of credential reaches only its methods.

    /lightning.v1.AgentService/Connect       an agent credential, or a join token (to register once)
    /lightning.v1.AgentService/FetchBundle   an agent credential
    /lightning.v1.AgentService/Tunnel        an agent credential (the agent a tunnel was asked of)
    /lightning.v1.AppService/*               the operator's token
    /lightning.v1.StorageService/*           an agent credential (its works' files); the operator's token only
                                             reads (ListArtifacts, ListDrive, ResolveArtifact, DownloadBlob)

No credential, or an unknown, expired, used-up or revoked one: UNAUTHENTICATED, saying which. A valid credential
on a method it does not open: PERMISSION_DENIED, saying which credential to use. The handler finds the caller in
:data:`current_principal` (what the credential speaks for; which agent, for an agent credential).
"""

from __future__ import annotations

import contextvars
from typing import Any, Awaitable, Callable

import grpc
import structlog

from lightning_ctl.controlplane.credential_store import (
    CredentialStore,
    Principal,
    Role,
    certificate_fingerprint,
)
from lightning_ctl.controlplane.errors import CredentialRefusedError

log = structlog.get_logger(component="auth")

current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "current_principal", default=None
)
"""The caller of the RPC being handled (set before the handler runs)."""

_AGENT_SERVICE = "/lightning.v1.AgentService/"
_APP_SERVICE = "/lightning.v1.AppService/"
_STORAGE_SERVICE = "/lightning.v1.StorageService/"
_OPENS: dict[str, frozenset[Role]] = {
    f"{_AGENT_SERVICE}Connect": frozenset({Role.AGENT, Role.JOIN}),
    f"{_AGENT_SERVICE}FetchBundle": frozenset({Role.AGENT}),
    f"{_AGENT_SERVICE}Tunnel": frozenset({Role.AGENT}),
    f"{_STORAGE_SERVICE}ListArtifacts": frozenset({Role.OPERATOR}),
    **{f"{_STORAGE_SERVICE}{read}": frozenset({Role.AGENT, Role.OPERATOR})
       for read in ("ListDrive", "ResolveArtifact", "DownloadBlob")},
}
_HINTS = {
    Role.OPERATOR: "the operator's token cannot act as an agent (nor write to the app's store): agents join with a "
                   "join token (lightning-ctl agents join-token)",
    Role.JOIN: "a join token only registers a new agent (it then uses its own agent credential)",
    Role.AGENT: "an agent credential only serves its agent's stream and its works' files: operate the app with the "
                "operator's token",
    Role.SCOPED: "this key does not open the gRPC services",
}


def allowed_roles(method: str) -> frozenset[Role]:
    """The kinds of credential that may call ``method`` (a full gRPC method name)."""
    if method in _OPENS:
        return _OPENS[method]
    if method.startswith(_APP_SERVICE):
        return frozenset({Role.OPERATOR})
    if method.startswith(_STORAGE_SERVICE):
        return frozenset({Role.AGENT})
    return frozenset()


def peer_certificate(context: grpc.aio.ServicerContext) -> str:
    """The fingerprint of the client certificate this connection presented ("" without mutual TLS)."""
    pems = context.auth_context().get("x509_pem_cert") or ()
    return certificate_fingerprint(pems[0] if pems else None)


def bearer_of(metadata: Any) -> str:
    """The credential in ``authorization: Bearer <credential>`` metadata ("" when there is none)."""
    for key, value in metadata or ():
        if key == "authorization":
            text = value.decode(errors="replace") if isinstance(value, bytes) else value
            return text[len("Bearer "):] if text.startswith("Bearer ") else ""
    return ""


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses unauthenticated calls and credentials used where they do not open (see the module docstring)."""

    def __init__(self, credentials: CredentialStore) -> None:
        self._credentials = credentials

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        """Refuse the call unless its credential opens the method; bind who calls for the handler."""
        method = handler_call_details.method
        try:
            principal = self._credentials.authenticate(bearer_of(handler_call_details.invocation_metadata))
        except CredentialRefusedError as exc:
            log.info("credential_refused", method=method, reason=str(exc))
            return await _refusal(continuation, handler_call_details, grpc.StatusCode.UNAUTHENTICATED,
                                  f"credential refused: {exc}")
        if principal.role not in allowed_roles(method):
            log.warning("credential_forbidden", method=method, role=principal.role.value, subject=principal.subject)
            return await _refusal(continuation, handler_call_details, grpc.StatusCode.PERMISSION_DENIED,
                                  _HINTS[principal.role])
        current_principal.set(principal)
        return await continuation(handler_call_details)


async def _refusal(
    continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
    details: grpc.HandlerCallDetails,
    code: grpc.StatusCode,
    message: str,
) -> grpc.RpcMethodHandler:
    """A handler of the same shape as the method's that ends the call with ``code`` and ``message``."""
    handler = await continuation(details)
    if handler is None:
        return None

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(code, message)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(refuse)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(refuse)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(refuse)
    return grpc.unary_unary_rpc_method_handler(refuse)
