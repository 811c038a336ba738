"""Server interceptors: every call and stream must carry the app's token."""

from __future__ import annotations

import hmac
from typing import Any, Awaitable, Callable

import grpc


class TokenAuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses with UNAUTHENTICATED any RPC whose ``authorization`` metadata is not ``Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

        async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong token")

        self._refusal = {
            "unary_unary": grpc.unary_unary_rpc_method_handler(refuse),
            "stream_stream": grpc.stream_stream_rpc_method_handler(refuse),
            "unary_stream": grpc.unary_stream_rpc_method_handler(refuse),
            "stream_unary": grpc.stream_unary_rpc_method_handler(refuse),
        }

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        metadata = dict(handler_call_details.invocation_metadata or ())
        given = metadata.get("authorization", "")
        if hmac.compare_digest(given.encode() if isinstance(given, str) else given, self._expected):
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # type: ignore[return-value]
        if handler.request_streaming and handler.response_streaming:
            return self._refusal["stream_stream"]
        if handler.response_streaming:
            return self._refusal["unary_stream"]
        if handler.request_streaming:
            return self._refusal["stream_unary"]
        return self._refusal["unary_unary"]
