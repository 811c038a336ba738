"""StateHub: the app's view pushed to browsers as it changes (Server-Sent Events), without polling the flows.

While at least one client watches, the flow thread signals after each run of the flows (``StateWatch``); the hub
then reads the view with one query, diffs it against the last one it sent, and pushes only the changes. Bursts
coalesce: after a read the hub waits ``min_interval_s`` before the next, so a busy app costs at most one read per
interval, and a quiet app's first change goes out at once. What the asyncio thread owns (agents, placements) is
looked at every ``refresh_s``. Nobody watching: no reads, no signals.

    GET /api/v1/events  ─► event: snapshot {seq, doc}   then   event: patch {seq, ops: [[path, value] | [path]]}
                                                              (and event: ended {exit_code, message} at the end)

A client that falls behind (its queue is full) loses its queued patches and gets a fresh snapshot instead.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

import structlog

from lightning_ctl.controlplane.agents.serving import proxy_path
from lightning_ctl.controlplane.api.app_view import AgentView
from lightning_ctl.controlplane.api.views import AppViews
from lightning_ctl.controlplane.errors import AppEndedError, FlowBusyError
from lightning_ctl.controlplane.flows.queries import QueryBox
from lightning_ctl.controlplane.flows.state_watch import StateWatch
from lightning_ctl.controlplane.http.state_access import FlowThreadView, view_reader
from lightning_ctl.sdk._frontend import Frontend
from lightning_ctl.sdk._state_delta import REMOVED, diff

log = structlog.get_logger(component="http_push")

MIN_INTERVAL_S = 0.03
"""The least time between two reads of the flows' state while it keeps changing."""
REFRESH_S = 1.0
"""How often agents and placements (owned by the asyncio thread) are looked at while someone watches."""
MAX_QUEUED = 256
"""Messages a client may have waiting before it is resynchronised with a snapshot."""

Message = tuple[str, str]
"""(event name, JSON text)."""


class Subscriber:
    """One client of the push stream: a bounded queue of messages."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue(MAX_QUEUED)
        self.needs_snapshot = True
        self.patches = 0
        """How many patches it was sent (the compatibility WebSocket sends this counter)."""

    def offer(self, message: Message | None) -> bool:
        """Queue ``message``; False (and the queue emptied) when the client fell behind."""
        try:
            self.queue.put_nowait(message)
            return True
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            return False

    async def next(self, timeout_s: float) -> Message | None:
        """The next message; ("ping", "") after ``timeout_s`` of silence; None once the stream ended."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout_s)
        except asyncio.TimeoutError:
            return ("ping", "")


class StateHub:
    """Reads the app's view when it changes and pushes the differences to every subscriber."""

    def __init__(self, queries: QueryBox, watch: StateWatch, views: AppViews, app_path: str,
                 frontends: Callable[[], dict[str, Frontend]], min_interval_s: float = MIN_INTERVAL_S,
                 refresh_s: float = REFRESH_S) -> None:
        self._queries = queries
        self._watch = watch
        self._views = views
        self._app_path = app_path
        self._frontends = frontends
        self._min_interval_s = min_interval_s
        self._refresh_s = refresh_s
        self._subscribers: set[Subscriber] = set()
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flow_view: FlowThreadView | None = None
        self._doc: dict[str, Any] | None = None
        self._seq = 0
        self._ended: dict[str, Any] | None = None

    def subscribe(self) -> Subscriber:
        """A new subscriber; its first message is a snapshot of the view."""
        subscriber = Subscriber()
        if self._ended is not None:
            subscriber.offer(("ended", json.dumps(self._ended)))
            subscriber.offer(None)
            return subscriber
        self._subscribers.add(subscriber)
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._watch.attach(lambda: loop.call_soon_threadsafe(self._dirty.set))
            self._dirty.set()
            self._task = loop.create_task(self._run(), name="http-push")
        elif self._doc is not None:
            self._send_snapshot(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Forget ``subscriber``; with nobody left, stop watching the flows."""
        self._subscribers.discard(subscriber)
        if not self._subscribers and self._task is not None:
            self._watch.attach(None)
            self._task.cancel()
            self._task = None
            self._doc = None
            self._flow_view = None

    def close(self, exit_code: int, message: str = "") -> None:
        """The app ended: tell every subscriber, end their streams, take no new ones."""
        self._ended = {"exit_code": exit_code, "message": message}
        text = json.dumps(self._ended)
        for subscriber in list(self._subscribers):
            subscriber.offer(("ended", text))
            subscriber.offer(None)
        self._watch.attach(None)
        if self._task is not None:
            self._task.cancel()
            self._task = None

    @property
    def document(self) -> dict[str, Any] | None:
        """The view as last sent (None while nobody watches)."""
        return self._doc

    async def _run(self) -> None:
        read = view_reader(self._watch, self._frontends())
        while True:
            try:
                await asyncio.wait_for(self._dirty.wait(), self._refresh_s)
            except asyncio.TimeoutError:
                pass
            read_now = self._dirty.is_set()
            if read_now:
                self._dirty.clear()
                try:
                    self._flow_view = await self._queries.ask(read)
                except AppEndedError:
                    return
                except FlowBusyError:
                    self._dirty.set()  # a long run of the flows: read once it is over
                    continue
            if self._flow_view is not None:
                self._publish(compose(self._flow_view, self._views, self._app_path))
            if read_now:
                await asyncio.sleep(self._min_interval_s)

    def _publish(self, doc: dict[str, Any]) -> None:
        previous, self._doc = self._doc, doc
        if previous is not None:
            ops = [[list(path)] if value is REMOVED else [list(path), value] for path, value in diff(previous, doc)]
            if ops:
                self._seq += 1
                text = json.dumps({"seq": self._seq, "ops": ops})
                for subscriber in list(self._subscribers):
                    if not subscriber.needs_snapshot:
                        subscriber.patches += 1
                        if not subscriber.offer(("patch", text)):
                            subscriber.needs_snapshot = True
        for subscriber in list(self._subscribers):
            if subscriber.needs_snapshot:
                self._send_snapshot(subscriber)

    def _send_snapshot(self, subscriber: Subscriber) -> None:
        subscriber.needs_snapshot = not subscriber.offer(("snapshot", json.dumps({"seq": self._seq, "doc": self._doc})))


def compose(flow_view: FlowThreadView, views: AppViews, app_path: str) -> dict[str, Any]:
    """The view's document: the app, its works (with placements), the agents, the state and the layout."""
    app = views.app_view(flow_view.stage, flow_view.works)
    works = {
        w.work_name: {
            "stage": w.stage, "reason": w.reason, "message": w.message, "since": w.status_timestamp,
            "started_at": w.started_at, "attempt": w.attempt, "restarts": w.restarts, "pid": w.pid,
            "agent": w.agent_name, "gpus": list(w.gpu_indices), "url": flow_view.urls.get(w.work_name, ""),
            "proxy_url": proxy_path(w.work_name) if w.url else "",
        }
        for w in app.works
    }
    agents = {a.agent_id: agent_doc(a) for a in app.agents}
    return {
        "app": {"stage": flow_view.stage, "path": app_path, "pid": os.getpid()},
        "works": works,
        "agents": agents,
        "state": flow_view.state,
        "layout": flow_view.layout,
        "layout_error": flow_view.layout_error,
    }


def agent_doc(agent: AgentView) -> dict[str, Any]:
    """One agent as JSON-ready data: what it offers, what works reserved, what the machine uses now."""
    usage = agent.usage
    return {
        "name": agent.name, "hostname": agent.hostname, "local": agent.is_local, "state": agent.state,
        "labels": agent.labels, "cpus": agent.cpus_total, "cpus_reserved": agent.cpus_used,
        "memory_bytes": agent.memory_total_bytes, "memory_reserved_bytes": agent.memory_used_bytes,
        "gpus": list(agent.gpu_indices), "gpus_reserved": list(agent.gpus_used), "works": list(agent.work_names),
        "cpu_percent": round(usage.cpu_percent, 1) if usage else None,
        "memory_used_bytes": usage.memory_used_bytes if usage else None,
        "gpu_usage": [
            {"index": g.index, "utilization_percent": g.utilization_percent, "memory_used_bytes": g.memory_used_bytes,
             "memory_total_bytes": g.memory_total_bytes}
            for g in (usage.gpus if usage else ())
        ],
    }
