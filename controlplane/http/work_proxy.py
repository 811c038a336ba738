"""WorkProxy: every serving work at ``/works/<work name>/...`` of the app's one HTTP address, wherever it runs.

    /works/root.server/predict?x=1 ─► the guard (same credentials as every route) ─► the work's server, as
    GET /predict?x=1 with X-Forwarded-Prefix: /works/root.server (HTTP or WebSocket, streamed both ways)

A work on the local agent is reached directly on this machine; a work on any other agent through a tunnel its
agent opens (``api.tunnels``), so no port of the agents' machines needs to be open to the control plane. A work
whose server is not ready answers 503 saying why (with ``Retry-After``); one without a server 404, naming those
that have one. The URL stays the same when the work's process is restarted, on whatever agent and port.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import aiohttp
import structlog
from aiohttp import web

from lightning_ctl.controlplane.agents.registry import AgentRegistry
from lightning_ctl.controlplane.agents.serving import PROXY_PREFIX as PREFIX
from lightning_ctl.controlplane.agents.serving import ServingWork
from lightning_ctl.controlplane.errors import TunnelError
from lightning_ctl.controlplane.http import errors
from lightning_ctl.controlplane.http.proxy import proxy

log = structlog.get_logger(component="work_proxy")

_ANY_HOSTS = frozenset({"0.0.0.0", "::", ""})
_NO_TOTAL_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=15.0)
"""A streamed answer (a large download, a WebSocket, server-sent events) may last as long as it needs."""


class _TunnelConnector(aiohttp.BaseConnector):
    """Connections to the servers of one remote agent's works, each through a tunnel that agent opens."""

    def __init__(self, agent_id: str, registry: AgentRegistry, open_tunnel: Callable[[ServingWork], Any]) -> None:
        super().__init__(force_close=False, limit=0)
        self._agent_id = agent_id
        self._registry = registry
        self._open_tunnel = open_tunnel

    async def _create_connection(self, req: Any, traces: Any, timeout: Any) -> Any:
        # aiohttp's extension point for connectors that are not TCP (its UnixConnector is built the same way).
        work = self._registry.serving.on_agent_port(self._agent_id, req.url.port)
        if work is None:
            raise aiohttp.ClientConnectionError(f"no work of this agent listens on port {req.url.port} any more")
        try:
            sock = await self._open_tunnel(work)
        except TunnelError as exc:
            raise aiohttp.ClientConnectionError(str(exc)) from None
        _, protocol = await asyncio.get_running_loop().create_connection(self._factory, sock=sock)
        return protocol


class WorkProxy:
    """Serves ``/works/<name>/...`` (asyncio thread)."""

    def __init__(self, registry: AgentRegistry, open_tunnel: Callable[[ServingWork], Any],
                 cookie_name: Callable[[], str]) -> None:
        self._registry = registry
        self._open_tunnel = open_tunnel
        self._cookie_name = cookie_name
        self._direct: aiohttp.ClientSession | None = None
        self._tunneled: dict[str, aiohttp.ClientSession] = {}

    def routes(self) -> list[tuple[str, str, Callable[[web.Request], Any]]]:
        """The routes to add to the HTTP server."""
        return [("*", PREFIX + "{work}", self.serve), ("*", PREFIX + "{work}/{tail:.*}", self.serve)]

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """Forward the request to the server of the work its path names."""
        name = request.match_info["work"]
        work = self._registry.serving.get(name)
        if work is None:
            serving = ", ".join(self._registry.serving.names()) or "none"
            raise errors.json_error(web.HTTPNotFound, f"work {name} has no server running (works serving now: "
                                                      f"{serving})")
        if not work.is_ready:
            why = work.endpoint.message or (f"nothing accepts connections on its port {work.endpoint.port} yet")
            response = errors.json_status(503, f"work {name} is not ready: {why.removeprefix('not ready: ')}")
            response.headers["Retry-After"] = "1"
            return response
        prefix = PREFIX + name
        if "tail" not in request.match_info:
            raise web.HTTPFound(prefix + "/" + (f"?{request.query_string}" if request.query_string else ""))
        if not request.raw_path.startswith(prefix + "/"):
            raise errors.json_error(web.HTTPNotFound, f"{request.path}: write the work's name as it is ({prefix}/)")
        session, host = self._session_for(work)
        endpoint = work.endpoint
        upstream = f"http://[{host}]:{endpoint.port}" if ":" in host else f"http://{host}:{endpoint.port}"
        return await proxy(request, upstream, session, self._cookie_name(), prefix=prefix)

    def _session_for(self, work: ServingWork) -> tuple[aiohttp.ClientSession, str]:
        """How to reach ``work``: directly (the local agent's, on this machine), or through its agent."""
        agent = self._registry.agents.get(work.agent_id)
        if agent is None:
            raise errors.json_error(web.HTTPServiceUnavailable, f"work {work.work_name}: its agent is not connected")
        if agent.capacity.is_local:
            if self._direct is None:
                self._direct = aiohttp.ClientSession(auto_decompress=False, timeout=_NO_TOTAL_TIMEOUT)
            host = work.endpoint.host
            return self._direct, "127.0.0.1" if host in _ANY_HOSTS else host
        session = self._tunneled.get(work.agent_id)
        if session is None or session.closed:
            connector = _TunnelConnector(work.agent_id, self._registry, self._open_tunnel)
            session = aiohttp.ClientSession(connector=connector, auto_decompress=False, timeout=_NO_TOTAL_TIMEOUT)
            self._tunneled[work.agent_id] = session
        return session, work.endpoint.internal_ip

    async def close(self) -> None:
        """Close every connection to the works' servers."""
        sessions = [s for s in (self._direct, *self._tunneled.values()) if s is not None]
        self._direct, self._tunneled = None, {}
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
