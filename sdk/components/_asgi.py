"""What the works that serve share: ASGI middleware for the control plane's proxy, and running an ASGI app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightning_ctl.sdk._work import LightningWork


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


def serve_asgi(work: LightningWork, app: Any) -> None:
    """Serve ``app`` with uvicorn (the ``serve`` extra) at the address the work's agent gave it, until stopped."""
    import uvicorn

    if work.port is None:
        raise RuntimeError(f"work {work.name} has no port: it serves only once launched by an agent")
    uvicorn.run(app, host=work.host, port=work.port, log_level="error")
