"""Tests for controlplane.api.event_gate.EventGate: which events reach the flow loop, which fail their work, which
are dropped (driven directly: no server)."""

from __future__ import annotations

from lightning_ctl.controlplane.agents.registry import AgentRegistry
from lightning_ctl.controlplane.api.event_gate import EventGate
from lightning_ctl.protos.lightning.v1 import events_pb2
from lightning_ctl.sdk._events import InvalidEvent, VarsChanged

ATTRIBUTES = frozenset({"count", "_url"})


def gate() -> EventGate:
    registry = AgentRegistry()
    registry.locations.place("root.w", 1, "agent-a", ATTRIBUTES)
    return EventGate(registry, max_attribute_bytes=100)


def delta(seq: int = 1, work: str = "root.w", attempt: int = 1, **values: str) -> events_pb2.WorkEvent:
    return events_pb2.WorkEvent(work_name=work, attempt=attempt, seq=seq, delta=events_pb2.VarsDelta(values=values))


def test_good_event_of_a_placed_work_is_delivered() -> None:
    """A declared attribute, from the agent the work is placed on, is delivered as it is."""
    verdict = gate().admit("agent-a", delta(count="3", _url='"http://x"'))
    assert verdict.rejected is None and verdict.deliver.body == VarsChanged({"count": 3, "_url": "http://x"})


def test_event_from_another_agent_is_dropped() -> None:
    """The same event from another agent is dropped with PERMISSION_DENIED naming where the work is placed."""
    verdict = gate().admit("agent-b", delta(count="3"))
    assert verdict.deliver is None and verdict.rejected.code == "PERMISSION_DENIED"
    assert "placed on agent agent-a, not on this one" in verdict.rejected.message


def test_undeclared_attribute_fails_the_work_in_its_place() -> None:
    """An attribute the work did not declare fails it: InvalidEvent with the event's seq, INVALID_ARGUMENT."""
    verdict = gate().admit("agent-a", delta(seq=4, extra="1"))
    assert verdict.deliver.seq == 4 and isinstance(verdict.deliver.body, InvalidEvent)
    assert "attribute extra: not declared" in verdict.deliver.body.reason
    assert verdict.rejected.code == "INVALID_ARGUMENT"


def test_value_over_the_limit_fails_the_work() -> None:
    """A value longer than the gate's limit fails the work, naming the attribute and the limit."""
    verdict = gate().admit("agent-a", delta(count="1" * 101))
    assert "attribute count: a value of 101 bytes, over the limit of 100 bytes" in verdict.deliver.body.reason


def test_bad_sequence_number_fails_the_work_at_once() -> None:
    """An event of the work process with seq 0 fails the work with a refusal applied at once (seq 0)."""
    verdict = gate().admit("agent-a", delta(seq=0, count="1"))
    assert verdict.deliver.seq == 0 and "seq 0" in verdict.deliver.body.reason


def test_malformed_output_report_is_dropped_without_failing_the_work() -> None:
    """A malformed output event (the agent's own report) is rejected, and the work is not failed."""
    pb = events_pb2.WorkEvent(work_name="root.w", attempt=1, seq=0,
                              logs=events_pb2.LogLines(stream=0, lines=["x"]))
    verdict = gate().admit("agent-a", pb)
    assert verdict.deliver is None and "logs.stream" in verdict.rejected.message
