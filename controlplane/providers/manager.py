"""ProviderManager: agents on demand, on the asyncio thread.

It takes the registry's facts to the planner, the planner's actions to the engine, the engine's answers back,
and keeps the requests in the app's home.

Each request's agents join with a join token of their own, scoped to the request (``uses`` = its nodes): the
registry knows which request an agent answers by that scope. The token has no fixed lifetime, since a job may wait
in the engine's queue for any time before its agent starts (the join timeout counts from the job's start); it is
revoked as soon as the request's agents have all joined or the request ends (released, failed, lost).

It wakes when the registry says something changed (a work waits for an agent, an agent joins, leaves, or frees
up), at the planner's next deadline, and to poll the engine: every ``poll_interval_s`` while a request is
outstanding (one engine call for all of them), every ``IDLE_POLL_S`` while all have joined. Submissions run a few
at a time; releases go out together, in one engine call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable

import structlog

from lightning_ctl.controlplane.agents.registry import AgentRegistry
from lightning_ctl.controlplane.api.app_view import RequestView
from lightning_ctl.controlplane.credential_store import CredentialStore
from lightning_ctl.controlplane.errors import ProviderError
from lightning_ctl.controlplane.providers.agent_command import common_agent_args
from lightning_ctl.controlplane.providers.base import AgentLaunch, AgentSpec, Provider
from lightning_ctl.controlplane.providers.planner import (
    Action,
    AgentRequest,
    DeclareLost,
    Planner,
    Presence,
    Release,
    Submit,
    WaitingWork,
)
from lightning_ctl.controlplane.providers.records import RequestRecords
from lightning_ctl.controlplane.providers.settings import ProviderSettings
from lightning_ctl.sdk._events import LaunchWork, PlacementPending
from lightning_ctl.sdk._tasks import TaskOwner, cancel_and_wait

log = structlog.get_logger(component="providers")

POLL_INTERVAL_S = 10.0
IDLE_POLL_S = 60.0
SETTLE_AFTER_RESTART_S = 30.0
SUBMISSIONS_AT_ONCE = 4
STOP_TIMEOUT_S = 30.0
MANAGER_OPTIONS = ("control-plane", "tls-ca", "poll-interval", "join-timeout", "stop-grace")
"""``--provider-option`` keys the manager reads, whatever the engine."""


class ProviderManager:
    """Requests agents from one engine for the works no connected agent can take, and releases them."""

    def __init__(
        self,
        provider: Provider,
        settings: ProviderSettings,
        registry: AgentRegistry,
        deliver: Callable[[object], None],
        records_folder: Path,
        credentials: CredentialStore,
    ) -> None:
        self.provider = provider
        self._settings = settings
        self._registry = registry
        self._deliver = deliver
        self._records = RequestRecords(records_folder)
        self._credentials = credentials
        self.poll_interval_s = settings.number("poll-interval", POLL_INTERVAL_S, minimum=0.1)
        self._stop_grace_s = settings.number("stop-grace", 20.0)
        self.planner = Planner(provider.engine, settings.max_agents, settings.idle_timeout_s,
                               join_timeout_s=settings.number("join-timeout", 600.0, minimum=1.0))
        self._control_plane = ""
        self._wakeup = asyncio.Event()
        self._submissions = asyncio.Semaphore(SUBMISSIONS_AT_ONCE)
        self._tasks = TaskOwner(
            on_error=lambda name, exc: log.error("provider_task_failed", task=name, error=repr(exc)))
        self._loop_task: asyncio.Task[None] | None = None
        self._next_poll = 0.0
        self._last_poll = 0.0
        self._polling = False
        self._messages: dict[tuple[str, int], str] = {}
        self._placement_pending: dict[str, PlacementPending] = {}
        """The registry's last report for each waiting work (why no connected agent fits it)."""
        self._members: dict[str, list[tuple[str, int]]] = {}
        """The (work, attempt) each waiting entry stands for: itself, or a gang's nodes."""

    # -- lifecycle --------------------------------------------------------------------------------------------------

    async def start(self, control_plane: str, resumed: bool) -> None:
        """Find the previous run's requests (kept when ``resumed``, released otherwise), then start deciding.

        Args:
            control_plane: HOST:PORT requested agents dial (``--provider-option control-plane=`` overrides it).
            resumed: this run resumes an app whose control plane stopped without ending it.
        """
        self._control_plane = self._settings.get("control-plane") or control_plane
        engine, previous = self._records.load()
        if previous and (engine != self.provider.engine or not resumed):
            held = [r.engine_id for r in previous if r.engine_id]
            log.info("previous_agent_requests_released", engine=engine, count=len(held),
                     reason="the app starts over" if not resumed else f"the provider is now {self.provider.engine}")
            if engine == self.provider.engine and held:
                await self._release_now(held)
            elif held:
                log.warning("previous_agent_requests_left", engine=engine, engine_ids=held,
                            hint=f"end them with {engine}'s own tools")
            self._revoke_join_tokens(previous, every=True)
            previous = []
        if previous:
            log.info("agent_requests_found", count=len(previous), engine_ids=[r.engine_id for r in previous])
            self.planner.restore(previous, time.monotonic(), SETTLE_AFTER_RESTART_S)
        self._save()
        self._registry.watch(self._wakeup.set)
        self._loop_task = self._tasks.spawn(self._run(), "provider decisions")

    async def stop(self, reason: str = "the app ended") -> None:
        """Release every request (waiting for submissions in flight, so that none is left behind)."""
        if self._loop_task is not None:
            await cancel_and_wait(self._loop_task)
        await self._tasks.wait(STOP_TIMEOUT_S)  # submissions in flight end, so that none is left behind
        await self._tasks.close()
        releases = self.planner.stop_all(reason, time.monotonic())
        held = [r.request.engine_id for r in releases if r.request.engine_id]
        held += [r.engine_id for r in self.planner.requests.values()
                 if r.released and not r.release_confirmed and r.engine_id and r.engine_id not in held]
        if held:
            log.info("agent_requests_released", engine=self.provider.engine, engine_ids=held, reason=reason)
            await self._release_now(held)
        self._revoke_join_tokens(self.planner.requests.values())
        self._save()
        self.provider.close()

    async def _release_now(self, engine_ids: list[str]) -> None:
        try:
            await asyncio.wait_for(self.provider.release(engine_ids), STOP_TIMEOUT_S)
        except (ProviderError, asyncio.TimeoutError) as exc:
            log.error("agent_requests_not_released", engine=self.provider.engine, engine_ids=engine_ids,
                      error=str(exc) or "timed out", hint=f"end them with {self.provider.engine}'s own tools")
            return
        ids = [r.request_id for r in self.planner.requests.values() if r.engine_id in engine_ids]
        self.planner.release_confirmed(ids)

    # -- the loop ---------------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                self._reconcile()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad decision; the traceback is logged
                log.exception("provider_reconcile_failed")
            now = time.monotonic()
            times = [t for t in (self.planner.next_deadline(now), self._poll_due()) if t is not None]
            timeout = max(0.0, min(times) - now) if times else None
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    def _reconcile(self) -> None:
        now = time.monotonic()
        waiting, self._members = waiting_works(self._registry.waiting_for_agent())
        actions = self.planner.plan(now, waiting, self._presence())
        self._dispatch(actions)
        self._revoke_join_tokens(self.planner.requests.values())
        self._report_pending(waiting)
        due = self._poll_due()
        if due is not None and due <= now:
            self._poll()
        self._save()

    def _presence(self) -> dict[str, Presence]:
        """Which requests' agents are connected, and whether they hold works.

        An agent is known by the scope of the join token it joined with.
        """
        agents: dict[str, set[str]] = defaultdict(set)
        busy: dict[str, bool] = defaultdict(bool)
        for agent in self._registry.agents.values():
            request_id = agent.scope
            if request_id:
                agents[request_id].add(agent.agent_id)
                busy[request_id] |= bool(self._registry.placed_on(agent.agent_id))
        return {rid: Presence(frozenset(ids), busy[rid]) for rid, ids in agents.items()}

    def _dispatch(self, actions: list[Action]) -> None:
        releases = []
        for action in actions:
            if isinstance(action, Submit):
                self._tasks.spawn(self._submit(action.request), f"submit {action.request.request_id}")
            elif isinstance(action, Release):
                log.info("agent_request_released", request_id=action.request.request_id,
                         engine_id=action.request.engine_id, reason=action.reason)
                if action.request.engine_id:
                    releases.append(action.request.engine_id)
            elif isinstance(action, DeclareLost):
                log.info("agents_gone_with_their_job", request_id=action.request.request_id,
                         engine_id=action.request.engine_id, agent_ids=list(action.agent_ids),
                         reason=action.request.ended)
                for agent_id in action.agent_ids:
                    for lost in self._registry.declare_lost(agent_id, action.request.ended):
                        self._deliver(lost)
        if releases:
            self._tasks.spawn(self._release(releases), "release")

    async def _submit(self, request: AgentRequest) -> None:
        async with self._submissions:
            if request.released:
                self.planner.submit_failed(request.request_id, "released before it was submitted", time.monotonic())
                return
            join = self._credentials.issue_join_token(ttl_s=None, uses=request.spec.nodes,
                                                      scope=request.request_id)
            request.join_token_id = join.token_id
            launch = AgentLaunch(
                request.request_id, request.spec, self._control_plane, join.token,
                common_agent_args(request.spec, self._control_plane, self._stop_grace_s, self._settings.get("tls-ca")),
            )
            log.info("agent_requested", request_id=request.request_id, engine=self.provider.engine,
                     work_name=request.work_name, resources=request.spec.describe())
            try:
                engine_id = await self.provider.submit(launch)
            except ProviderError as exc:
                log.warning("agent_request_refused", request_id=request.request_id, engine=self.provider.engine,
                            work_name=request.work_name, error=str(exc))
                self.planner.submit_failed(request.request_id, str(exc), time.monotonic())
            else:
                self._dispatch(self.planner.submitted(request.request_id, engine_id))
                self._next_poll = min(self._next_poll, time.monotonic() + 1.0)
        self._save()
        self._wakeup.set()

    async def _release(self, engine_ids: list[str]) -> None:
        try:
            await self.provider.release(engine_ids)
        except ProviderError as exc:
            log.warning("agent_release_failed", engine=self.provider.engine, engine_ids=engine_ids, error=str(exc),
                        hint="asked again at the next poll")
            return
        self.planner.release_confirmed(
            [r.request_id for r in self.planner.requests.values() if r.engine_id in engine_ids])
        self._save()

    def _poll_due(self) -> float | None:
        """When the engine should next be asked about the jobs, or None when there is nothing to ask about."""
        if self._polling:
            return None
        requests = [r for r in self.planner.requests.values()
                    if r.engine_id and (r.is_live or (r.released and not r.release_confirmed))]
        if not requests:
            return None
        urgent = any(not r.is_joined or r.released for r in requests)
        return self._next_poll if urgent else max(self._next_poll, self._last_poll + IDLE_POLL_S)

    def _poll(self) -> None:
        self._polling = True
        self._tasks.spawn(self._poll_engine(), "poll")

    async def _poll_engine(self) -> None:
        try:
            by_engine_id = {r.engine_id: r for r in self.planner.requests.values() if r.engine_id and not r.is_settled}
            statuses = await self.provider.poll(list(by_engine_id))
            self.planner.observe_engine(
                {by_engine_id[eid].request_id: status for eid, status in statuses.items() if eid in by_engine_id},
                time.monotonic())
            unconfirmed = [r.engine_id for r in by_engine_id.values() if r.released and not r.release_confirmed]
            if unconfirmed:
                await self._release(unconfirmed)
        except ProviderError as exc:
            log.warning("engine_poll_failed", engine=self.provider.engine, error=str(exc))
        finally:
            self._polling = False
            self._last_poll = time.monotonic()
            self._next_poll = self._last_poll + self.poll_interval_s
            self._wakeup.set()

    def explain(self, pending: PlacementPending) -> PlacementPending:
        """The registry's reason for a waiting work, with what the engine is doing about it."""
        self._placement_pending[pending.work_name] = pending
        provider_text = self._messages.get((pending.work_name, pending.attempt))
        if not provider_text:
            return pending
        return dataclasses.replace(pending, reason=f"{provider_text}; {pending.reason}")

    def _report_pending(self, waiting: list[WaitingWork]) -> None:
        """Tell each waiting work's status what it waits for on the engine's side, when that changed.

        A gang's message goes to each of its nodes.
        """
        messages = {}
        for name, text in self.planner.pending_messages().items():
            for key in self._members[name]:
                messages[key] = text
                if self._messages.get(key) != text:
                    work_name, attempt = key
                    placement = self._placement_pending.get(work_name)
                    if placement is not None and placement.attempt == attempt:
                        self._deliver(dataclasses.replace(placement, reason=f"{text}; {placement.reason}"))
                    else:
                        self._deliver(PlacementPending(work_name, attempt, text))
        self._messages = messages
        waiting_names = {work_name for members in self._members.values() for work_name, _ in members}
        self._placement_pending = {n: p for n, p in self._placement_pending.items() if n in waiting_names}

    def _revoke_join_tokens(self, requests: Iterable[AgentRequest], every: bool = False) -> None:
        """Revoke the join tokens of the requests whose agents all joined or that ended (of all, with ``every``)."""
        for request in requests:
            if request.join_token_id and (every or request.ever_joined or not request.is_live):
                self._credentials.revoke_join_token(request.join_token_id)
                request.join_token_id = ""

    def _save(self) -> None:
        try:
            self._records.save(self.provider.engine, list(self.planner.requests.values()))
        except OSError as exc:
            log.warning("agent_requests_not_saved", path=str(self._records.path), error=str(exc))

    # -- the operator's view ----------------------------------------------------------------------------------------

    def views(self) -> list[RequestView]:
        """Every request still worth showing, oldest first."""
        return [
            RequestView(
                request_id=r.request_id, engine=self.provider.engine, engine_id=r.engine_id, state=r.state.value,
                reason=r.reason, resources=r.spec.describe(), nodes=r.spec.nodes, work_name=r.work_name,
                created_at=r.created_at, where=r.where,
            )
            for r in sorted(self.planner.requests.values(), key=lambda r: r.created_at)
        ]


def waiting_works(launches: Iterable[LaunchWork]) -> tuple[list[WaitingWork], dict[str, list[tuple[str, int]]]]:
    """The launches waiting for an agent as the planner sees them, with the (work, attempt) each stands for.

    A work is one entry; a gang is ONE entry of N nodes, named after the gang.
    """
    waiting: list[WaitingWork] = []
    members: dict[str, list[tuple[str, int]]] = {}
    for launch in launches:
        gang = launch.gang
        name = gang.name if gang is not None else launch.work_name
        if name not in members:
            nodes = gang.size if gang is not None else 1
            attempt = gang.generation if gang is not None else launch.attempt
            waiting.append(WaitingWork(name, attempt, AgentSpec(launch.resources, nodes=nodes)))
            members[name] = []
        members[name].append((launch.work_name, launch.attempt))
    return waiting, members
