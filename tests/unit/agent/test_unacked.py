"""Tests for agent.runner.unacked: the work process's buffer of unacknowledged events and its coalescing.

Driven directly: no sockets, no threads, no sleeps. The last class feeds what the buffer would send again to the
control plane's sequencer, as a reconnection does, and checks the flow ends with the values the work holds.
"""

from __future__ import annotations

import json
import random

from lightning_ctl.agent.runner.unacked import UnackedEvents
from lightning_ctl.controlplane.flows.sequencing import EventSequencer
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import events_pb2
from lightning_ctl.sdk._events import StatusChanged, VarsChanged
from lightning_ctl.sdk._status import make_status


def delta(seq: int, **values: object) -> events_pb2.WorkEvent:
    event = events_pb2.WorkEvent(work_name="root.w", attempt=1, seq=seq)
    event.delta.values.update({name: json.dumps(value) for name, value in values.items()})
    return event


def decoded(event: events_pb2.WorkEvent) -> dict[str, object]:
    """The attribute values a delta carries."""
    return {name: json.loads(value) for name, value in event.delta.values.items()}


def status(seq: int, stage: str = "running") -> events_pb2.WorkEvent:
    event = events_pb2.WorkEvent(work_name="root.w", attempt=1, seq=seq)
    codec.body_to_pb(StatusChanged("h", make_status(stage)), event)
    return event


def kinds(buffer: UnackedEvents) -> list[tuple[str, int, int]]:
    """(kind, first seq, seq) of each event kept."""
    return [(e.WhichOneof("kind"), e.first_seq or e.seq, e.seq) for e in buffer.events()]


class TestKeeping:
    def test_events_are_kept_until_acknowledged(self):
        """Sent events stay, oldest first, until an ack covers them; a later ack covers earlier ones."""
        buffer = UnackedEvents()
        buffer.add([delta(1, n=1), status(2), delta(3, n=3)])
        assert [e.seq for e in buffer.events()] == [1, 2, 3]
        buffer.ack(2)
        assert [e.seq for e in buffer.events()] == [3]
        buffer.ack(9)
        assert buffer.events() == []

    def test_an_ack_below_what_is_kept_changes_nothing(self):
        """An old (or repeated) acknowledgement does not drop newer events."""
        buffer = UnackedEvents()
        buffer.add([delta(5, n=5)])
        buffer.ack(4)
        assert [e.seq for e in buffer.events()] == [5]

    def test_nothing_is_merged_under_the_limit(self):
        """Up to the limit every event is kept as it was sent."""
        buffer = UnackedEvents(limit=4)
        buffer.add([delta(seq, n=seq) for seq in range(1, 5)])
        assert kinds(buffer) == [("delta", s, s) for s in range(1, 5)]


class TestCoalescing:
    def test_a_run_of_changes_becomes_one_covering_its_range(self):
        """Past the limit, consecutive changes merge into one carrying the latest value of each attribute."""
        buffer = UnackedEvents(limit=3)
        buffer.add([delta(1, a=1), delta(2, b=2), delta(3, a=3), delta(4, c=4)])
        [merged] = buffer.events()
        assert (merged.first_seq, merged.seq) == (1, 4)
        assert decoded(merged) == {"a": 3, "b": 2, "c": 4}

    def test_statuses_are_kept_and_never_crossed(self):
        """A status splits the runs: the changes before it and after it merge separately, around it."""
        buffer = UnackedEvents(limit=4)
        buffer.add([delta(1, a=1), delta(2, a=2), status(3), delta(4, a=4), delta(5, a=5)])
        assert kinds(buffer) == [("delta", 1, 2), ("status", 3, 3), ("delta", 4, 5)]

    def test_a_merged_change_merges_again_keeping_its_first_seq(self):
        """Coalescing twice keeps the range's first seq and the latest values."""
        buffer = UnackedEvents(limit=2)
        buffer.add([delta(1, a=1), delta(2, a=2), delta(3, a=3)])
        buffer.add([delta(4, a=4), delta(5, b=5)])
        [merged] = buffer.events()
        assert (merged.first_seq, merged.seq) == (1, 5)
        assert decoded(merged) == {"a": 4, "b": 5}

    def test_a_lone_change_between_statuses_stays_as_it_was(self):
        """A run of one change is kept unchanged (no first_seq added)."""
        buffer = UnackedEvents(limit=2)
        buffer.add([status(1), delta(2, a=2), status(3)])
        assert kinds(buffer) == [("status", 1, 1), ("delta", 2, 2), ("status", 3, 3)]
        assert buffer.events()[1].first_seq == 0


class TestWithTheSequencer:
    def test_whatever_was_acknowledged_and_resent_the_flow_ends_with_the_works_values(self):
        """The control plane applies part of the stream, loses the rest, then gets the coalesced resend: its view
        of every attribute ends equal to the work's, and no status is applied twice."""
        rng = random.Random(7)
        for _ in range(50):
            buffer = UnackedEvents(limit=rng.randint(2, 8))
            sequencer = EventSequencer()
            view: dict[str, object] = {}
            truth: dict[str, object] = {}
            statuses_applied = []
            seq = 0
            for _ in range(rng.randint(5, 40)):
                seq += 1
                if rng.random() < 0.2:
                    event = status(seq)
                else:
                    name = rng.choice("abc")
                    truth[name] = seq
                    event = delta(seq, **{name: seq})
                buffer.add([event])
                if rng.random() < 0.5:  # delivered now (else lost in flight)
                    apply(sequencer, event, view, statuses_applied)
                if rng.random() < 0.2:  # the control plane acknowledged what it applied
                    buffer.ack(sequencer.applied_seq)
            for event in buffer.events():  # a reconnection: everything unacknowledged, again
                apply(sequencer, event, view, statuses_applied)
            assert view == truth
            assert sequencer.applied_seq == seq
            assert len(statuses_applied) == len(set(statuses_applied))


def apply(sequencer: EventSequencer, pb: events_pb2.WorkEvent, view: dict, statuses: list[int]) -> None:
    """Apply an event as the flow runtime does: through the sequencer, values into ``view``."""
    for ready in sequencer.accept(codec.event_from_pb(pb)):
        if isinstance(ready.body, VarsChanged):
            view.update(ready.body.values)
        else:
            statuses.append(ready.seq)


class TestMergeLimit:
    def test_a_merge_stays_within_the_attribute_limit(self):
        """Consecutive changes whose values together exceed max_merge_bytes become several merged changes, each
        within it, covering the same seqs in order."""
        buffer = UnackedEvents(limit=3, max_merge_bytes=25)
        buffer.add([delta(seq, **{f"a{seq}": "x" * 8}) for seq in range(1, 7)])
        assert [k for k in kinds(buffer)] == [("delta", 1, 2), ("delta", 3, 4), ("delta", 5, 6)]
        for event in buffer.events():
            assert sum(len(v) for v in event.delta.values.values()) <= 25
