"""EventGate: what becomes of each work event an agent sends, decided before the flow loop sees it.

    decodes, placed on the sender, declared attributes  ─► delivered
    a malformed output or exit report of the agent's    ─► dropped, EventRejected INVALID_ARGUMENT
    breaks a rule, placed on the sender                 ─► its work fails: InvalidEvent delivered in its place
                                                           (in its seq's slot, so it is acknowledged and never
                                                           sent again), EventRejected INVALID_ARGUMENT to the agent
    about a work not placed on the sender               ─► dropped, EventRejected PERMISSION_DENIED
    names no work or no valid attempt                   ─► dropped, EventRejected INVALID_ARGUMENT

Only the agent a work's attempt is placed on speaks for it, so a bad event costs its own work and nothing else:
not the agent's stream, not the other works.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from lightning_ctl.controlplane.agents.registry import AgentRegistry
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import events_pb2
from lightning_ctl.sdk._agent_messages import EventRejected
from lightning_ctl.sdk._events import InvalidEvent, VarsChanged, WorkEvent

log = structlog.get_logger(component="event_gate")

INVALID_ARGUMENT = "INVALID_ARGUMENT"
PERMISSION_DENIED = "PERMISSION_DENIED"
_OBSERVED_KINDS = ("logs", "exit", "endpoint")
"""Kinds the agent itself reports (output, exit, endpoint): a malformed one is dropped, not held against the work."""


@dataclass(frozen=True)
class Verdict:
    """What to do with one event: deliver something to the flow loop, tell the agent it was rejected, or both."""

    deliver: WorkEvent | None = None
    rejected: EventRejected | None = None


class EventGate:
    """Checks work events against the protocol's rules and the placement record (see the module docstring)."""

    def __init__(self, registry: AgentRegistry, max_attribute_bytes: int) -> None:
        self._registry = registry
        self.max_attribute_bytes = max_attribute_bytes

    def admit(self, agent_id: str, pb: events_pb2.WorkEvent) -> Verdict:
        """The verdict on ``pb``, sent by agent ``agent_id``."""
        try:
            event = codec.event_from_pb(pb, self.max_attribute_bytes)
        except codec.EventDecodeError as exc:
            if not self._placed_on(agent_id, exc.work_name, exc.attempt):
                return self._drop(agent_id, exc.work_name, exc.attempt, exc.seq)
            if pb.WhichOneof("kind") in _OBSERVED_KINDS:  # the agent's own report is wrong: the work is not at fault
                return self._reject(agent_id, pb, str(exc))
            return self._refuse(exc.work_name, exc.attempt, exc.seq, exc.first_seq, str(exc))
        except codec.CodecError as exc:
            return self._reject(agent_id, pb, str(exc))
        if not self._placed_on(agent_id, event.work_name, event.attempt):
            return self._drop(agent_id, event.work_name, event.attempt, event.seq)
        if isinstance(event.body, VarsChanged):
            declared = self._registry.locations.get(event.work_name, event.attempt).attributes  # type: ignore[union-attr]
            undeclared = [] if declared is None or declared.issuperset(event.body.values) else sorted(
                set(event.body.values) - declared)
            if undeclared:
                reason = (f"work {event.work_name}: attribute {undeclared[0]}: not declared in the work's __init__ "
                          "(a work may only change the state attributes it declared)")
                return self._refuse(event.work_name, event.attempt, event.seq, event.first_seq, reason)
        return Verdict(deliver=event)

    def _reject(self, agent_id: str, pb: events_pb2.WorkEvent, reason: str) -> Verdict:
        log.warning("event_rejected", agent_id=agent_id, reason=reason)
        return Verdict(rejected=EventRejected(pb.work_name[:256], pb.attempt, pb.seq, INVALID_ARGUMENT, reason))

    def _placed_on(self, agent_id: str, work_name: str, attempt: int) -> bool:
        location = self._registry.locations.get(work_name, attempt)
        return location is not None and location.agent_id == agent_id

    def _drop(self, agent_id: str, work_name: str, attempt: int, seq: int) -> Verdict:
        location = self._registry.locations.get(work_name, attempt)
        where = f"placed on agent {location.agent_id}" if location is not None else "not placed on any agent"
        reason = f"work {work_name} attempt {attempt} is {where}, not on this one: its events are not this agent's"
        log.warning("event_rejected", agent_id=agent_id, work_name=work_name, attempt=attempt, reason=reason)
        return Verdict(rejected=EventRejected(work_name, attempt, seq, PERMISSION_DENIED, reason))

    def _refuse(self, work_name: str, attempt: int, seq: int, first_seq: int, reason: str) -> Verdict:
        log.warning("event_refused", work_name=work_name, attempt=attempt, seq=seq, reason=reason)
        return Verdict(
            deliver=WorkEvent(work_name, attempt, seq, InvalidEvent(reason), first_seq),
            rejected=EventRejected(work_name, attempt, seq, INVALID_ARGUMENT, reason),
        )
