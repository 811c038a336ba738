"""The REST API of the former framework, and what it lacked.

The former framework's ``/api/v1/state``, ``/delta``, ``/status``, ``/layout`` and ``/healthz``; then
``/api/v1/stop``, ``/api/v1/agents``, ``/api/v1/events``, ``/api/v1/logs`` and login links.

Session headers (``X-Lightning-Session-*``) are accepted and never required. ``POST /api/v1/state`` applies what
the client changed relative to the state it read: the state served under ``X-Lightning-State-Version`` (the
version it names, or the latest one served), so values that works changed meanwhile are not undone.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web

from lightning_ctl.controlplane.api.views import AppViews
from lightning_ctl.controlplane.errors import AppEndedError, FlowBusyError, LayoutError
from lightning_ctl.controlplane.flows.queries import QueryBox
from lightning_ctl.controlplane.http import errors
from lightning_ctl.controlplane.http.push import StateHub, agent_doc
from lightning_ctl.controlplane.http.state_access import (
    changes_writer,
    layout_reader,
    read_state_vars_json,
    read_status,
)
from lightning_ctl.controlplane.output.log_store import LogStore
from lightning_ctl.sdk._frontend import Frontend
from lightning_ctl.sdk._state_delta import Path, diff, from_deepdiff
from lightning_ctl.sdk.errors import DeltaError

log = structlog.get_logger(component="http_rest")

VERSION_HEADER = "X-Lightning-State-Version"
_SERVED_KEPT = 4
_SSE_PING_S = 15.0
_STOPPING_STAGES = ("stopping",)
_RUNNING_STAGES = ("running",)
DEFAULT_LOG_TAIL = 200


class RestApi:
    """The built-in routes (asyncio thread); what the flows own is read and written through queries."""

    def __init__(self, queries: QueryBox, views: AppViews, log_store: LogStore, hub: StateHub,
                 request_stop: Callable[[str], None], mint_login_url: Callable[[], str],
                 frontends: Callable[[], dict[str, Frontend]]) -> None:
        self._queries = queries
        self._views = views
        self._log_store = log_store
        self._hub = hub
        self._request_stop = request_stop
        self._mint_login_url = mint_login_url
        self._frontends = frontends
        self._served: collections.OrderedDict[int, str] = collections.OrderedDict()
        self._version = 0

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register the routes on ``router``."""
        router.add_get("/api/v1/state", self.get_state)
        router.add_post("/api/v1/state", self.post_state)
        router.add_post("/api/v1/delta", self.post_delta)
        router.add_get("/api/v1/status", self.get_status)
        router.add_get("/api/v1/layout", self.get_layout)
        router.add_get("/api/v1/agents", self.get_agents)
        router.add_post("/api/v1/stop", self.post_stop)
        router.add_post("/api/v1/login-links", self.post_login_link)
        router.add_get("/api/v1/events", self.get_events)
        router.add_get("/api/v1/ws", self.get_ws)
        router.add_get("/api/v1/logs", self.get_logs)
        router.add_get("/healthz", self.get_healthz)

    async def _ask(self, fn: Callable[[Any, Any], Any], changes_state: bool = False) -> Any:
        try:
            return await self._queries.ask(fn, changes_state=changes_state)
        except AppEndedError as exc:
            raise errors.json_error(web.HTTPServiceUnavailable, str(exc)) from None
        except FlowBusyError as exc:
            raise errors.json_error(web.HTTPServiceUnavailable, str(exc)) from None

    # -- state ----------------------------------------------------------------------------------------------------

    async def get_state(self, request: web.Request) -> web.Response:
        """The app's state: ``{"app_state", "flows", "structures", "vars", "works"}`` (works carry only vars)."""
        text = await self._ask(read_state_vars_json)
        self._version += 1
        self._served[self._version] = text
        while len(self._served) > _SERVED_KEPT:
            self._served.popitem(last=False)
        return web.Response(text=text, content_type="application/json", headers={VERSION_HEADER: str(self._version)})

    async def post_state(self, request: web.Request) -> web.Response:
        """``{"stage": "stopping"}`` stops the app; ``{"state": {...}}`` applies what the client changed."""
        body = await errors.read_json(request)
        if not isinstance(body, dict) or not ({"stage", "state"} & body.keys()):
            raise errors.json_error(web.HTTPBadRequest, 'expected {"stage": "stopping"} or {"state": {...}}')
        if "stage" in body:
            self._apply_stage(body["stage"])
            return web.json_response(None)
        posted = body["state"]
        if not isinstance(posted, dict):
            raise errors.json_error(web.HTTPBadRequest, '"state" must be the app\'s state object')
        base = await self._base_state(request)
        changes = list(diff(base, posted))
        stage_changes = [value for path, value in changes if path == ("app_state", "stage")]
        changes = [(path, value) for path, value in changes if path[:1] != ("app_state",)]
        await self._write(changes)
        for stage in stage_changes:
            self._apply_stage(stage)
        return web.json_response(None)

    async def post_delta(self, request: web.Request) -> web.Response:
        """Apply a DeepDiff-style delta (``{"delta": {"values_changed": {"root['vars']['x']": ...}}}``)."""
        body = await errors.read_json(request)
        if not isinstance(body, dict) or "delta" not in body:
            raise errors.json_error(web.HTTPBadRequest, 'expected {"delta": {...}}')
        try:
            changes = from_deepdiff(body["delta"])
        except DeltaError as exc:
            raise errors.json_error(web.HTTPBadRequest, str(exc)) from None
        stages = [value for path, value in changes if path == ("app_state", "stage")]
        await self._write([(path, value) for path, value in changes if path[:1] != ("app_state",)])
        for stage in stages:
            self._apply_stage(stage)
        return web.json_response(None)

    async def _base_state(self, request: web.Request) -> dict[str, Any]:
        version = request.headers.get(VERSION_HEADER)
        text = self._served.get(int(version)) if version and version.isdigit() else None
        if text is None and self._served:
            text = next(reversed(self._served.values()))
        if text is None:
            text = await self._ask(read_state_vars_json)
        return json.loads(text)

    async def _write(self, changes: list[tuple[Path, Any]]) -> None:
        if not changes:
            return
        try:
            count = await self._ask(changes_writer(changes), changes_state=True)
        except DeltaError as exc:
            raise errors.json_error(web.HTTPBadRequest, str(exc)) from None
        log.debug("state_written", attributes=count)

    def _apply_stage(self, stage: Any) -> None:
        if stage in _STOPPING_STAGES:
            log.info("app_stop_requested", reason="stage set to stopping through the REST API")
            self._request_stop("stopped through the REST API")
        elif stage not in _RUNNING_STAGES:
            raise errors.json_error(web.HTTPBadRequest, f"stage {stage!r} cannot be set (use 'stopping' to stop)")

    # -- reads ----------------------------------------------------------------------------------------------------

    async def get_status(self, request: web.Request) -> web.Response:
        """``{"is_ui_ready", "work_statuses": {name: status}}``."""
        return web.json_response(await self._ask(read_status))

    async def get_layout(self, request: web.Request) -> web.Response:
        """The layout's tabs, JSON-encoded in a JSON string as the former framework served it."""
        try:
            tabs = await self._ask(layout_reader(self._frontends()))
        except LayoutError as exc:
            raise errors.json_error(web.HTTPInternalServerError, str(exc)) from None
        return web.json_response(json.dumps(tabs))

    async def get_agents(self, request: web.Request) -> web.Response:
        """Every connected agent: what it offers, what works reserved, what it uses now."""
        return web.json_response({a.agent_id: agent_doc(a) for a in self._views.agent_views()})

    async def get_healthz(self, request: web.Request) -> web.Response:
        """``{"status": "ok"}`` while the flows answer; 503 otherwise."""
        await self._ask(lambda app, runtime: None)
        return web.json_response({"status": "ok"})

    # -- actions --------------------------------------------------------------------------------------------------

    async def post_stop(self, request: web.Request) -> web.Response:
        """End the app as ``flow.stop()`` does (exit status 0)."""
        reason = request.query.get("reason") or "stopped from the HTTP API"
        log.info("app_stop_requested", reason=reason, peer=request.remote)
        self._request_stop(reason)
        return web.json_response({"status": "stopping"}, status=202)

    async def post_login_link(self, request: web.Request) -> web.Response:
        """A new one-time login link for a browser (operator only)."""
        return web.json_response({"url": self._mint_login_url()})

    # -- streams --------------------------------------------------------------------------------------------------

    async def get_events(self, request: web.Request) -> web.StreamResponse:
        """The view pushed as it changes (Server-Sent Events; see ``push``)."""
        subscriber = self._hub.subscribe()
        response = _event_stream()
        await response.prepare(request)
        try:
            while (message := await subscriber.next(_SSE_PING_S)) is not None:
                event, data = message
                chunk = b": ping\n\n" if event == "ping" else f"event: {event}\ndata: {data}\n\n".encode()
                await response.write(chunk)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._hub.unsubscribe(subscriber)
        return response

    async def get_ws(self, request: web.Request) -> web.WebSocketResponse:
        """The former framework's WebSocket: a counter sent each time the state changes."""
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        subscriber = self._hub.subscribe()
        try:
            while not ws.closed and (message := await subscriber.next(_SSE_PING_S)) is not None:
                if message[0] == "patch":
                    await ws.send_str(str(subscriber.patches))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._hub.unsubscribe(subscriber)
            await ws.close()
        return ws

    async def get_logs(self, request: web.Request) -> web.StreamResponse:
        """Works' output: ``?work=NAME`` (repeatable; default all), ``tail=N``, ``follow=1`` to stream (SSE)."""
        names = request.query.getall("work", []) or None
        try:
            tail = int(request.query.get("tail", DEFAULT_LOG_TAIL))
        except ValueError:
            raise errors.json_error(web.HTTPBadRequest, "tail must be a number of lines") from None
        follow = request.query.get("follow", "") in ("1", "true", "yes")
        subscription = self._log_store.subscribe(names) if follow else None
        backlog = [_line_doc(line) for line in self._log_store.lines(names, tail, None)]
        if subscription is None:
            return web.json_response({"lines": backlog})
        response = _event_stream()
        await response.prepare(request)
        try:
            await response.write(f"event: lines\ndata: {json.dumps({'lines': backlog, 'dropped': 0})}\n\n".encode())
            while True:
                try:
                    batch = await asyncio.wait_for(subscription.next_batch(), _SSE_PING_S)
                except asyncio.TimeoutError:
                    await response.write(b": ping\n\n")  # also how a gone client is noticed
                    continue
                if batch is None:
                    break
                data = json.dumps({"lines": [_line_doc(line) for line in batch.lines], "dropped": batch.dropped})
                await response.write(f"event: lines\ndata: {data}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._log_store.unsubscribe(subscription)
        return response


def _event_stream() -> web.StreamResponse:
    return web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no",
    })


def _line_doc(line: Any) -> dict[str, Any]:
    return {"work": line.work_name, "t": line.timestamp, "stream": line.stream, "text": line.text}
