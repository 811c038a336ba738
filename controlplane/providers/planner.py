"""Planner: which agents to ask an engine for, and which to give back. Pure: facts in, actions out.

The facts are the works waiting because no connected agent can take them, which requested agents are connected
(and whether they hold works), what the engine says about each job, and the time. From them the planner decides,
level-triggered (the same facts always give the same decisions, so a missed notification costs nothing):

* a waiting work that no outstanding request covers gets a new request for exactly its resources, unless
  ``max_agents`` requests are live (then the longest-idle agent is released to make room, if there is one) or
  requests for it keep failing (then it waits out a backoff, 30 s doubling to 10 min);
* a request is never made twice for the same waiting work: an outstanding request (its agents never held a work
  yet) covers the work it was made for, or another waiting work with the same needs once that one was placed
  elsewhere;
* an outstanding request that covers no waiting work is released (after ``settle_s`` following a restart, while
  the flows send their launches again);
* a joined agent idle for ``idle_timeout_s`` is released; one that never joined ``join_timeout_s`` after its job
  started is released too, and counts as a failure;
* a job the engine ended by itself is lost (after its agent joined: its works are lost at once, for their restart
  policy to decide) or failed (before: the work's backoff grows).

Lifecycle of one request::

    submitting ─► queued ─► starting ─► joined ─(idle past the timeout / no longer needed)─► released
        │            │          │          │
        └────────────┴──────────┴──────────┴──(the engine ended it)─► lost (after joining) / failed (before)
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass, field
from typing import Mapping, Sequence, Union

from lightning_ctl.controlplane.providers.base import AgentSpec, EngineState, EngineStatus

BACKOFF_FIRST_S = 30.0
BACKOFF_MAX_S = 600.0
KEEP_FINISHED_S = 600.0
"""How long released, lost and failed requests stay visible in ``lightning-ctl agents``."""
KEEP_FINISHED_MAX = 100
SPARE_GRACE_S = 3.0
"""An outstanding request no waiting work needs is released only after this long, so that a passing moment
(an agent joining and taking another work than the one it was asked for) never cancels a job that is needed."""


@dataclass(frozen=True, slots=True)
class WaitingWork:
    """A work whose launch waits because no connected agent can take it."""

    work_name: str
    attempt: int
    spec: AgentSpec


@dataclass(frozen=True, slots=True)
class Presence:
    """The connected agents of one request."""

    agent_ids: frozenset[str] = frozenset()
    busy: bool = False
    """Whether any of them has works placed on it."""


class RequestState(str, enum.Enum):
    """Where a request stands, as ``lightning-ctl agents`` shows it."""

    SUBMITTING = "submitting"
    QUEUED = "queued"
    STARTING = "starting"
    JOINED = "joined"
    RELEASED = "released"
    LOST = "lost"
    FAILED = "failed"


@dataclass
class AgentRequest:
    """One agent (or gang) asked of the engine, and what is known of it."""

    request_id: str
    spec: AgentSpec
    work_name: str
    """The waiting work it covers while it has not joined (it may move to another with the same needs)."""
    created_at: float = field(default_factory=time.time)
    """Epoch seconds."""
    engine_id: str = ""
    """The engine's id of the job; "" until the submission returned."""
    engine_state: EngineState | None = None
    engine_reason: str = ""
    where: str = ""
    agent_ids: set[str] = field(default_factory=set)
    """Every agent seen joining for it."""
    connected: int = 0
    ever_joined: bool = False
    ever_busy: bool = False
    """Its agents have held a work: from then on they are agents like any other, covering no waiting work."""
    running_since: float | None = None
    """Monotonic time the engine first said it runs (for the join timeout)."""
    idle_since: float | None = None
    """Monotonic time its agents last became idle; None while busy or not joined."""
    released: str = ""
    """Why the control plane released it ("" while it did not)."""
    release_confirmed: bool = False
    """The engine acknowledged the release (until then the request is kept, also across restarts)."""
    ended: str = ""
    """Why it ended without the control plane asking ("" while it did not)."""
    finished_at: float | None = None
    """Monotonic time it was released or ended."""
    spare_since: float | None = None
    """Monotonic time since it covers no waiting work (None while it covers one)."""
    declared_lost: set[str] = field(default_factory=set)
    """Its agents whose works were declared lost after the engine ended it."""
    join_token_id: str = ""
    """The id of the join token its agents join with, until it is revoked (all joined, or the request ended)."""

    @property
    def is_live(self) -> bool:
        """Whether it still holds, or will hold, engine capacity on the control plane's behalf."""
        return not self.released and not self.ended

    @property
    def is_joined(self) -> bool:
        """Whether all its agents are connected."""
        return self.connected >= self.spec.nodes

    @property
    def is_settled(self) -> bool:
        """Whether nothing more is expected of the engine: it ended, or was released and the engine confirmed."""
        if self.is_live or self.engine_state is None:
            return False
        return not self.released or self.release_confirmed

    @property
    def state(self) -> RequestState:
        """Its state, derived from the facts."""
        if self.released:
            return RequestState.RELEASED
        if self.ended:
            return RequestState.LOST if self.ever_joined else RequestState.FAILED
        if self.is_joined:
            return RequestState.JOINED
        if self.engine_state is None:
            return RequestState.SUBMITTING
        if self.engine_state == EngineState.RUNNING or self.connected:
            return RequestState.STARTING
        return RequestState.QUEUED

    @property
    def reason(self) -> str:
        """Why it is in its state: the engine's reason while it waits, or why it ended."""
        return self.released or self.ended or self.engine_reason


@dataclass(frozen=True, slots=True)
class Submit:
    """Ask the engine for ``request``'s agent(s)."""

    request: AgentRequest


@dataclass(frozen=True, slots=True)
class Release:
    """End ``request``'s job in the engine."""

    request: AgentRequest
    reason: str


@dataclass(frozen=True, slots=True)
class DeclareLost:
    """The engine ended ``request``'s job and its agents are gone: their works are lost now."""

    request: AgentRequest
    agent_ids: tuple[str, ...]


Action = Union[Submit, Release, DeclareLost]


@dataclass
class _Backoff:
    failures: int
    retry_at: float
    reason: str


class Planner:
    """Decides, from the facts it is given, which requests to make and which to release."""

    def __init__(
        self,
        engine: str,
        max_agents: int,
        idle_timeout_s: float,
        join_timeout_s: float = 600.0,
        settle_s: float = 0.0,
        now: float = 0.0,
    ) -> None:
        self.engine = engine
        self.max_agents = max_agents
        self.idle_timeout_s = idle_timeout_s
        self.join_timeout_s = join_timeout_s
        self.requests: dict[str, AgentRequest] = {}
        self._settle_until = now + settle_s
        self._backoff: dict[str, _Backoff] = {}
        self._waiting: dict[str, WaitingWork] = {}
        self._at_capacity: set[str] = set()

    # -- facts ------------------------------------------------------------------------------------------------------

    def restore(self, requests: Sequence[AgentRequest], now: float, settle_s: float) -> None:
        """Requests a previous control plane made; outstanding ones are kept for ``settle_s`` even if no work waits."""
        for request in requests:
            self.requests[request.request_id] = request
        self._settle_until = max(self._settle_until, now + settle_s)

    def submitted(self, request_id: str, engine_id: str) -> list[Action]:
        """The engine accepted a submission. A request released meanwhile is released in the engine now."""
        request = self.requests[request_id]
        request.engine_id = engine_id
        request.engine_state = EngineState.QUEUED
        if request.released:
            return [Release(request, request.released)]
        return []

    def submit_failed(self, request_id: str, reason: str, now: float) -> None:
        """The engine refused a submission."""
        request = self.requests[request_id]
        request.engine_state = EngineState.GONE
        if request.is_live:
            self._end(request, f"{self.engine} refused it: {reason}", now)
            self._fail(request.work_name, request.ended, now)
        else:
            request.release_confirmed = True

    def release_confirmed(self, request_ids: Sequence[str]) -> None:
        """The engine ended these jobs as asked."""
        for request_id in request_ids:
            if request_id in self.requests:
                self.requests[request_id].release_confirmed = True

    def observe_engine(self, statuses: Mapping[str, EngineStatus], now: float) -> None:
        """What the engine says about the jobs (by request id)."""
        for request_id, status in statuses.items():
            request = self.requests.get(request_id)
            if request is None or request.engine_state is None:
                continue
            request.engine_reason = status.reason
            request.where = status.where or request.where
            if status.state == EngineState.RUNNING and request.running_since is None:
                request.running_since = now
            if status.state == EngineState.GONE:
                if request.released:
                    request.release_confirmed = True
                elif request.is_live:
                    self._end(request, f"{self.engine} ended it" + (f": {status.reason}" if status.reason else ""),
                              now)
                    if not request.ever_joined:
                        self._fail(request.work_name, request.ended, now)
            request.engine_state = status.state

    # -- decisions --------------------------------------------------------------------------------------------------

    def plan(self, now: float, waiting: Sequence[WaitingWork], presence: Mapping[str, Presence]) -> list[Action]:
        """The actions the facts call for now."""
        actions: list[Action] = []
        self._waiting = {w.work_name: w for w in waiting}
        self._observe_presence(now, presence, actions)
        live = [r for r in self.requests.values() if r.is_live]
        outstanding = [r for r in live if not r.ever_busy]
        covered, spare = self._cover(outstanding)
        self._at_capacity = set()
        live_count = len(live)
        for work in waiting:
            if work.work_name in covered:
                continue
            backoff = self._backoff.get(work.work_name)
            if backoff is not None and now < backoff.retry_at:
                continue
            if live_count >= self.max_agents:
                idle = self._longest_idle(now)
                if idle is None:
                    self._at_capacity.add(work.work_name)
                    continue
                actions.append(self._release(idle, f"idle; released to make room for {work.work_name}", now))
                live_count -= 1
            request = AgentRequest(f"r{uuid.uuid4().hex[:8]}", work.spec, work.work_name)
            self.requests[request.request_id] = request
            actions.append(Submit(request))
            covered.add(work.work_name)
            live_count += 1
        for request in outstanding:
            request.spare_since = (request.spare_since or now) if request in spare else None
        if now >= self._settle_until:
            for request in spare:
                if now - (request.spare_since or now) >= SPARE_GRACE_S:
                    reason = f"no longer needed ({request.work_name} is not waiting)"
                    actions.append(self._release(request, reason, now))
        for request in live:
            if not request.is_live:
                continue
            if request.idle_since is not None and now - request.idle_since >= self.idle_timeout_s:
                actions.append(self._release(request, f"idle for {now - request.idle_since:.1f}s", now))
            elif (not request.ever_joined and request.running_since is not None
                  and now - request.running_since >= self.join_timeout_s):
                reason = f"its agent did not join within {self.join_timeout_s:.0f}s of the job starting"
                actions.append(self._release(request, reason, now))
                self._fail(request.work_name, reason, now)
        self._forget_finished(now)
        return actions

    def next_deadline(self, now: float) -> float | None:
        """The next monotonic time after ``now`` a decision may change with no new fact.

        That is when an idle, join or settle timeout passes, a backoff ends, or a finished request is
        forgotten.
        """
        times = [b.retry_at for name, b in self._backoff.items() if name in self._waiting]
        for request in self.requests.values():
            if not request.is_live:
                continue
            if request.idle_since is not None:
                times.append(request.idle_since + self.idle_timeout_s)
            if not request.ever_joined and request.running_since is not None:
                times.append(request.running_since + self.join_timeout_s)
            if not request.ever_busy:
                times.append(self._settle_until)
            if request.spare_since is not None:
                times.append(request.spare_since + SPARE_GRACE_S)
        times.extend((r.finished_at or now) + KEEP_FINISHED_S for r in self.requests.values() if r.is_settled)
        later = [t for t in times if t > now]
        return min(later) if later else None

    def pending_messages(self) -> dict[str, str]:
        """Per waiting work, what it waits for on the provider's side (for its status message)."""
        messages = {}
        covering = {r.work_name: r for r in self.requests.values() if r.is_live and not r.ever_busy}
        for name in self._waiting:
            request = covering.get(name)
            backoff = self._backoff.get(name)
            if request is not None:
                job = f"job {request.engine_id}" if request.engine_id else "a job being submitted"
                text = f"waiting for an agent from {self.engine} ({job}, {request.state.value}"
                messages[name] = text + (f": {request.engine_reason})" if request.engine_reason else ")")
            elif backoff is not None:
                messages[name] = (f"no agent from {self.engine} yet: {backoff.reason} "
                                  f"({backoff.failures} failed; asking again later)")
            elif name in self._at_capacity:
                messages[name] = f"waiting for one of the {self.max_agents} agents of --max-agents to free up"
        return messages

    def stop_all(self, reason: str, now: float) -> list[Release]:
        """Release every live request (the app ended)."""
        return [self._release(r, reason, now) for r in self.requests.values() if r.is_live]

    # -- helpers ----------------------------------------------------------------------------------------------------

    def _observe_presence(self, now: float, presence: Mapping[str, Presence], actions: list[Action]) -> None:
        for request in self.requests.values():
            seen = presence.get(request.request_id, Presence())
            request.agent_ids.update(seen.agent_ids)
            request.connected = len(seen.agent_ids)
            if request.is_joined:
                request.ever_joined = True
                self._backoff.pop(request.work_name, None)
            request.ever_busy = request.ever_busy or seen.busy
            if request.connected and not seen.busy:
                request.idle_since = request.idle_since if request.idle_since is not None else now
            else:
                request.idle_since = None
            if request.ended and request.ever_joined:
                gone = tuple(sorted(request.agent_ids - seen.agent_ids - request.declared_lost))
                if gone:
                    request.declared_lost.update(gone)
                    actions.append(DeclareLost(request, gone))

    def _cover(self, outstanding: list[AgentRequest]) -> tuple[set[str], list[AgentRequest]]:
        """Match outstanding requests to waiting works: the names of the works covered, and the requests left."""
        covered: set[str] = set()
        spare = []
        for request in outstanding:
            work = self._waiting.get(request.work_name)
            if work is not None and work.spec == request.spec and request.work_name not in covered:
                covered.add(request.work_name)
            else:
                spare.append(request)
        for work in self._waiting.values():
            if work.work_name in covered:
                continue
            match = next((r for r in spare if r.spec == work.spec), None)
            if match is not None:
                spare.remove(match)
                match.work_name = work.work_name
                covered.add(work.work_name)
        return covered, spare

    def _longest_idle(self, now: float) -> AgentRequest | None:
        idle = [r for r in self.requests.values() if r.is_live and r.idle_since is not None]
        return min(idle, key=lambda r: r.idle_since or now, default=None)

    def _release(self, request: AgentRequest, reason: str, now: float) -> Release:
        request.released = reason
        request.finished_at = now
        return Release(request, reason)

    def _end(self, request: AgentRequest, reason: str, now: float) -> None:
        request.ended = reason
        request.finished_at = now

    def _fail(self, work_name: str, reason: str, now: float) -> None:
        previous = self._backoff.get(work_name)
        failures = previous.failures + 1 if previous else 1
        delay_s = min(BACKOFF_FIRST_S * 2 ** (failures - 1), BACKOFF_MAX_S)
        self._backoff[work_name] = _Backoff(failures, now + delay_s, reason)

    def _forget_finished(self, now: float) -> None:
        finished = sorted((r for r in self.requests.values() if r.is_settled), key=lambda r: r.finished_at or 0.0)
        excess = len(finished) - KEEP_FINISHED_MAX
        for index, request in enumerate(finished):
            if index < excess or now - (request.finished_at or now) > KEEP_FINISHED_S:
                del self.requests[request.request_id]
