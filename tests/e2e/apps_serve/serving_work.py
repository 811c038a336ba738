"""A work serving HTTP on the port its agent gave it (aiohttp, which lightning-ctl already needs): JSON, a
redirect, a large streamed answer, a WebSocket echo and a health check. Shared by the apps of this folder."""

from __future__ import annotations

import os

from aiohttp import web

from lightning_ctl.sdk import LightningWork, RestartPolicy


class Server(LightningWork):
    """Serves until stopped; ``seen`` is what its own process read of its address."""

    readiness_path = "/health"

    def __init__(self, **kwargs) -> None:
        super().__init__(parallel=True, restart_policy=RestartPolicy.on_failure(2), **kwargs)
        self.seen: dict = {}

    def run(self) -> None:
        self.seen = {"host": self.host, "port": self.port, "internal_ip": self.internal_ip, "pid": os.getpid()}
        app = web.Application()
        app.router.add_get("/hello", self._hello)
        app.router.add_post("/echo", self._echo)
        app.router.add_get("/go", lambda request: web.HTTPFound("/hello"))
        app.router.add_get("/big", self._big)
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/health", lambda request: web.json_response({"ok": True}))
        web.run_app(app, host=self.host, port=self.port, handle_signals=False, print=None, access_log=None)

    async def _hello(self, request: web.Request) -> web.Response:
        return web.json_response({"work": self.name, "pid": os.getpid(), "path": request.path_qs,
                                  "prefix": request.headers.get("X-Forwarded-Prefix", ""),
                                  "authorization": request.headers.get("Authorization", "")})

    async def _echo(self, request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    async def _big(self, request: web.Request) -> web.StreamResponse:
        """``?mb=N``: N MiB of zeros, streamed in 1 MiB chunks."""
        response = web.StreamResponse()
        response.content_type = "application/octet-stream"
        await response.prepare(request)
        chunk = bytes(1 << 20)
        for _ in range(int(request.query.get("mb", "1"))):
            await response.write(chunk)
        await response.write_eof()
        return response

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == web.WSMsgType.TEXT:
                await ws.send_str(f"echo: {message.data}")
        return ws
