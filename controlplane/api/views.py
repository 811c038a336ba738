"""AppViews: the operator's view of agents, placements and works.

It joins what the asyncio thread owns (agents, placements) to the flow thread's view of the works. Served by
AppService (gRPC) and by the HTTP server (REST, the push stream of ``/view``).
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Callable

from lightning_ctl.controlplane.agents.registry import AgentRegistry
from lightning_ctl.controlplane.agents.serving import proxy_path
from lightning_ctl.controlplane.api.app_view import AgentView, AppView, RequestView, WorkView

SILENT_AFTER_HEARTBEATS = 2
"""An agent whose last heartbeat is older than this many periods shows as "silent" (it is dropped after 3)."""


class AppViews:
    """Builds the app's and the agents' views from the registry (asyncio thread only)."""

    def __init__(self, registry: AgentRegistry, app_path: str = "", heartbeat_interval_s: float = 2.0,
                 requests: Callable[[], list[RequestView]] | None = None,
                 http_url: Callable[[], str] = lambda: "") -> None:
        self._registry = registry
        self._http_url = http_url
        """The app's HTTP address ("" without HTTP): serving works are proxied under it."""
        self._app_path = app_path
        self._heartbeat_interval_s = heartbeat_interval_s
        self._requests = requests
        """The agents requested from an engine (``--provider``), when there is one."""

    def app_view(self, stage: str, works: list[WorkView]) -> AppView:
        """The app's view: the flow thread's ``works`` with their placements, and the agents."""
        placements = self._registry.placements
        agents = self._registry.agents
        http_url = self._http_url()
        placed = []
        for work in works:
            if work.url and http_url:
                work = dataclasses.replace(work, proxy_url=http_url + proxy_path(work.work_name))
            placement = placements.get(work.work_name)
            if placement is not None and placement.attempt == work.attempt:
                allocation = placement.allocation
                agent = agents.get(allocation.agent_id)
                work = dataclasses.replace(
                    work,
                    agent_id=allocation.agent_id,
                    agent_name=agent.name if agent else allocation.agent_id,
                    gpu_indices=tuple(allocation.gpu_indices),
                )
            placed.append(work)
        return AppView(stage, self._app_path, os.getpid(), tuple(placed), tuple(self.agent_views()))

    def agent_views(self) -> list[AgentView]:
        """Every connected agent, then the agents requested from an engine that are not connected.

        A connected agent comes with what the works placed on it hold, its last reported usage and the engine
        request it answers; the others are queued, starting, released...
        """
        requests = {r.request_id: r for r in self._requests()} if self._requests else {}
        answered: set[str] = set()
        now = time.monotonic()
        views = []
        for agent in sorted(self._registry.agents.values(), key=lambda a: a.name):
            capacity = agent.capacity
            held = [
                (name, p.allocation)
                for name, p in self._registry.placements.items()
                if p.allocation.agent_id == agent.agent_id
            ]
            age_s = max(0.0, now - agent.last_heartbeat)
            request = requests.get(agent.scope)
            if request is not None:
                answered.add(request.request_id)
            views.append(
                AgentView(
                    agent_id=agent.agent_id,
                    name=agent.name,
                    hostname=agent.hostname,
                    is_local=capacity.is_local,
                    labels=dict(capacity.labels),
                    cpus_total=capacity.cpus,
                    cpus_used=sum(a.cpus for _, a in held),
                    memory_total_bytes=capacity.memory_bytes,
                    memory_used_bytes=sum(a.memory_bytes for _, a in held),
                    gpu_indices=tuple(capacity.gpu_indices),
                    gpus_used=tuple(sorted(i for _, a in held for i in a.gpu_indices)),
                    work_names=tuple(sorted(name for name, _ in held)),
                    last_heartbeat_age_s=age_s,
                    state="silent"
                    if age_s > SILENT_AFTER_HEARTBEATS * self._heartbeat_interval_s
                    else "connected",
                    usage=agent.usage,
                    request=request,
                )
            )
        for request in requests.values():
            if request.request_id not in answered:
                views.append(AgentView(agent_id="", name=request.request_id, hostname=request.where,
                                       state=request.state, request=request))
        return views
