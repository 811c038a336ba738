"""Forwarding a request (HTTP, streamed both ways, or a WebSocket) to a server behind the control plane.

Used for frontends started by the app (``/ui/<flow>/``, forwarded whole) and works' servers (``/works/<name>/``,
forwarded without that prefix, which goes in ``X-Forwarded-Prefix``; redirects to the server's own paths come back
under it). The client's credentials for the control plane (its session cookie, its Authorization header) are never
forwarded: the upstream sees an unauthenticated request from the control plane. Bodies stream in chunks both ways,
never whole in memory.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

from lightning_ctl.controlplane.http import errors

_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length",
})
_CHUNK_BYTES = 64 * 1024


def _forwarded_headers(request: web.Request, drop_cookie: str, prefix: str) -> dict[str, str]:
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP and k.lower() != "authorization"}
    cookie = request.headers.get("Cookie")
    if cookie:
        kept = "; ".join(c for c in cookie.split("; ") if not c.startswith(drop_cookie + "="))
        headers.pop("Cookie", None)
        if kept:
            headers["Cookie"] = kept
    headers["X-Forwarded-Host"] = request.host
    headers["X-Forwarded-Proto"] = request.scheme
    if prefix:
        headers["X-Forwarded-Prefix"] = prefix
    return headers


def _location(location: str, upstream: str, prefix: str) -> str:
    """A redirect of the upstream's, pointed back under ``prefix`` when it names one of the upstream's paths."""
    if location.startswith(upstream):
        location = location[len(upstream):] or "/"
    if location.startswith("/") and not location.startswith("//"):
        return prefix + location
    return location


async def proxy(request: web.Request, upstream: str, session: aiohttp.ClientSession, drop_cookie: str,
                prefix: str = "") -> web.StreamResponse:
    """Forward ``request`` to ``upstream`` (``http://host:port``); stream the answer.

    Args:
        request: The client's request.
        upstream: Scheme, host and port of the server to forward to.
        session: The client session to forward with.
        drop_cookie: The name of the control plane's session cookie, removed from what is forwarded.
        prefix: The part of the request's path that names the upstream (``/works/root.server``): forwarded without
            it, and put back in front of the upstream's redirects. "" forwards the path whole.
    """
    url = upstream + (request.raw_path[len(prefix):] or "/")
    headers = _forwarded_headers(request, drop_cookie, prefix)
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await _proxy_websocket(request, url.replace("http", "ws", 1), headers, session)
    response: web.StreamResponse | None = None
    try:
        async with session.request(request.method, url, headers=headers, allow_redirects=False,
                                   data=request.content if request.body_exists else None) as upstream_response:
            response = web.StreamResponse(status=upstream_response.status, reason=upstream_response.reason)
            for name, value in upstream_response.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    response.headers.add(name, _location(value, upstream, prefix) if prefix and
                                         name.lower() == "location" else value)
            await response.prepare(request)
            async for chunk in upstream_response.content.iter_chunked(_CHUNK_BYTES):
                await response.write(chunk)
            await response.write_eof()
            return response
    except aiohttp.ClientConnectionError as exc:
        if response is not None and response.prepared:
            if request.transport is not None:  # the answer was under way: the client sees it cut short
                request.transport.close()
            return response
        raise errors.json_error(web.HTTPBadGateway, f"{request.path}: the server behind it does not answer ({exc})") from None


async def _proxy_websocket(request: web.Request, url: str, headers: dict[str, str],
                           session: aiohttp.ClientSession) -> web.WebSocketResponse:
    for name in ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions"):
        headers.pop(name, None)
    protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    headers.pop("Sec-WebSocket-Protocol", None)
    try:
        upstream = await session.ws_connect(url, headers=headers, protocols=protocols, autoping=False)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise errors.json_error(web.HTTPBadGateway, f"{request.path}: the server behind it refused the WebSocket ({exc})") from None
    client = web.WebSocketResponse(protocols=protocols, autoping=False)
    await client.prepare(request)

    async def pump(source: Any, sink: Any) -> None:
        async for message in source:
            if message.type == aiohttp.WSMsgType.TEXT:
                await sink.send_str(message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                await sink.send_bytes(message.data)
            elif message.type == aiohttp.WSMsgType.PING:
                await sink.ping(message.data)
            elif message.type == aiohttp.WSMsgType.PONG:
                await sink.pong(message.data)
            else:
                break

    tasks = [asyncio.ensure_future(pump(client, upstream)), asyncio.ensure_future(pump(upstream, client))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await upstream.close()
        await client.close()
    return client
