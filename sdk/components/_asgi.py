"""What the works that serve share: ASGI middleware for the control plane's proxy."""

from __future__ import annotations

from typing import Any


class ForwardedPrefix:
    """ASGI middleware.

    Serve under the path the control plane's proxy forwarded from (``X-Forwarded-Prefix``, as the ASGI ``root_path``),
    so that pages linking to their own server (API docs, Gradio) work both directly and at ``/works/<name>/``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            for name, value in scope.get("headers", ()):
                if name == b"x-forwarded-prefix":
                    scope = {**scope, "root_path": value.decode("latin-1").rstrip("/")}
                    break
        await self.app(scope, receive, send)
