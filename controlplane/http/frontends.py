"""The flows' UIs at ``/ui/<flow name>/``.

A StaticWebFrontend's folder served here, any other frontend's own server (started on a free loopback port
with ``/ui/<flow name>`` as its base path) reached through the proxy.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import structlog
from aiohttp import web

from lightning_ctl.controlplane.http import errors
from lightning_ctl.controlplane.http.layout import frontend_path
from lightning_ctl.controlplane.http.proxy import proxy
from lightning_ctl.sdk._frontend import Frontend, StaticWebFrontend

log = structlog.get_logger(component="http_frontends")

READY_TIMEOUT_S = 30.0
"""How long a request waits for a frontend's server that is still starting (Streamlit takes seconds)."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Frontends:
    """Starts, serves and stops the app's frontends (asyncio thread)."""

    def __init__(self, cookie_name: str) -> None:
        self.frontends: dict[str, Frontend] = {}
        self._ports: dict[str, int] = {}
        self._cookie_name = cookie_name
        self._session: aiohttp.ClientSession | None = None
        self._ready: set[str] = set()

    async def _wait_ready(self, name: str, port: int) -> None:
        """Wait (up to READY_TIMEOUT_S) for a frontend that is still starting to accept connections."""
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                self._ready.add(name)
                return
            except OSError:
                if asyncio.get_running_loop().time() > deadline:
                    raise errors.json_error(web.HTTPBadGateway, f"the frontend of {name} does not answer on port "
                                                                f"{port} (is its server starting?)") from None
                await asyncio.sleep(0.1)

    async def start(self, frontends: dict[str, Frontend]) -> None:
        """Start the server of every frontend that is not a folder."""
        self.frontends = dict(frontends)
        for name, frontend in self.frontends.items():
            if isinstance(frontend, StaticWebFrontend):
                continue
            port = _free_port()
            await asyncio.to_thread(frontend.start_server, "127.0.0.1", port, frontend_path(name).rstrip("/"))
            self._ports[name] = port
            log.info("frontend_started", flow=name, kind=type(frontend).__name__, port=port)

    async def stop(self) -> None:
        """Stop every frontend's server and the proxy's connections."""
        for name in list(self._ports):
            try:
                await asyncio.to_thread(self.frontends[name].stop_server)
            except Exception:  # noqa: BLE001 - the user's stop_server: one failing must not keep others running
                log.exception("frontend_stop_failed", flow=name)
        self._ports.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """``/ui/<flow>/...``: a file of the flow's folder, or its server's answer."""
        name = request.match_info["flow"]
        frontend = self.frontends.get(name)
        if frontend is None:
            raise errors.json_error(web.HTTPNotFound, f"no flow {name!r} has a frontend (see configure_layout)")
        if request.path == f"/ui/{name}":
            raise web.HTTPFound(frontend_path(name))
        if isinstance(frontend, StaticWebFrontend):
            return _static_file(Path(frontend.serve_dir), request.match_info["tail"])
        port = self._ports.get(name)
        if port is None:
            raise errors.json_error(web.HTTPServiceUnavailable, f"the frontend of {name} is not running")
        if name not in self._ready:
            await self._wait_ready(name, port)
        if self._session is None:
            self._session = aiohttp.ClientSession(auto_decompress=False)
        return await proxy(request, f"http://127.0.0.1:{port}", self._session, self._cookie_name)


def _static_file(folder: Path, tail: str) -> web.FileResponse:
    """``folder/tail`` (``index.html`` for a folder), never a file outside ``folder``."""
    root = folder.resolve()
    target = (root / tail).resolve()
    if target != root and root not in target.parents:
        raise errors.json_error(web.HTTPNotFound, "not found")
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        raise errors.json_error(web.HTTPNotFound, f"{tail or 'index.html'} is not in the frontend's folder")
    return web.FileResponse(target)
