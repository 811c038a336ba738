"""Tests for controlplane.flows.sequencing: a work process's events applied exactly once, in order.

The sequencer is driven directly with the arrivals a reconnection produces: duplicates, gaps, merged ranges.
"""

from __future__ import annotations

from lightning_ctl.controlplane.flows.sequencing import EventSequencer
from lightning_ctl.sdk._events import VarsChanged, WorkEvent


def change(seq: int, first_seq: int = 0, **values: int) -> WorkEvent:
    """An attribute change numbered ``seq`` (merged from ``first_seq..seq`` when first_seq is given)."""
    return WorkEvent("root.w", 1, seq, VarsChanged(values or {"n": seq}), first_seq)


def seqs(events: list[WorkEvent]) -> list[int]:
    return [e.seq for e in events]


class TestInOrder:
    def test_events_in_order_are_applied_at_once(self):
        """Each event that follows the last applied one is applied as it arrives."""
        sequencer = EventSequencer()
        assert seqs(sequencer.accept(change(1))) == [1]
        assert seqs(sequencer.accept(change(2))) == [2]
        assert sequencer.applied_seq == 2

    def test_a_duplicate_is_dropped(self):
        """An event at or below the applied seq (sent again after a reconnection) is not applied twice."""
        sequencer = EventSequencer()
        sequencer.accept(change(1))
        sequencer.accept(change(2))
        assert sequencer.accept(change(1)) == []
        assert sequencer.accept(change(2)) == []
        assert sequencer.applied_seq == 2

    def test_restored_sequencer_drops_what_was_applied_before(self):
        """A sequencer restored from a checkpoint (applied_seq only) drops the events the checkpoint covers."""
        sequencer = EventSequencer(applied_seq=5)
        assert sequencer.accept(change(5)) == []
        assert seqs(sequencer.accept(change(6))) == [6]


class TestGaps:
    def test_an_event_after_a_gap_waits_for_it(self):
        """An event ahead of a gap is kept aside, then applied right after the missing one, in order."""
        sequencer = EventSequencer()
        sequencer.accept(change(1))
        assert sequencer.accept(change(3)) == []
        assert sequencer.accept(change(4)) == []
        assert sequencer.applied_seq == 1
        assert seqs(sequencer.accept(change(2))) == [2, 3, 4]
        assert sequencer.applied_seq == 4 and sequencer.early == {}

    def test_events_beyond_a_second_gap_keep_waiting(self):
        """Filling the first gap applies up to the next gap only."""
        sequencer = EventSequencer()
        sequencer.accept(change(3))
        sequencer.accept(change(5))
        assert seqs(sequencer.accept(change(1))) == [1]
        assert seqs(sequencer.accept(change(2))) == [2, 3]
        assert seqs(sequencer.accept(change(4))) == [4, 5]

    def test_an_early_event_arriving_twice_is_applied_once(self):
        """The same early event kept aside twice is applied once when the gap fills."""
        sequencer = EventSequencer()
        sequencer.accept(change(2))
        sequencer.accept(change(2))
        assert seqs(sequencer.accept(change(1))) == [1, 2]
        assert sequencer.early == {}


class TestMergedRanges:
    def test_a_merged_range_continuing_the_applied_seq_is_applied(self):
        """A change merged from seqs 2..6 applies after seq 1 and moves applied_seq to 6."""
        sequencer = EventSequencer()
        sequencer.accept(change(1))
        assert seqs(sequencer.accept(change(6, first_seq=2))) == [6]
        assert sequencer.applied_seq == 6

    def test_a_merged_range_overlapping_what_was_applied_is_applied(self):
        """A range 2..6 arriving after 1..3 were applied still applies (its values are the latest whole ones)."""
        sequencer = EventSequencer()
        for seq in (1, 2, 3):
            sequencer.accept(change(seq))
        assert seqs(sequencer.accept(change(6, first_seq=2))) == [6]
        assert sequencer.applied_seq == 6

    def test_a_merged_range_ahead_of_a_gap_waits(self):
        """A range 4..8 arriving after 1 waits for 2..3, then applies."""
        sequencer = EventSequencer()
        sequencer.accept(change(1))
        assert sequencer.accept(change(8, first_seq=4)) == []
        assert seqs(sequencer.accept(change(3, first_seq=2))) == [3, 8]
        assert sequencer.applied_seq == 8

    def test_the_wider_of_two_early_events_from_the_same_seq_is_kept(self):
        """Seq 4 alone, then the range 4..9 that replaced it in the sender's buffer: the range is kept, whatever
        the order they arrive in, so that 5..9 are not waited for forever."""
        for arrivals in ([change(4), change(9, first_seq=4)], [change(9, first_seq=4), change(4)]):
            sequencer = EventSequencer()
            sequencer.accept(change(1))
            for arrival in arrivals:
                assert sequencer.accept(arrival) == []
            assert seqs(sequencer.accept(change(3, first_seq=2))) == [3, 9]
            assert sequencer.applied_seq == 9

    def test_early_events_covered_by_a_range_are_dropped(self):
        """Early events inside a range that got applied are dropped rather than kept for ever."""
        sequencer = EventSequencer()
        sequencer.accept(change(1))
        sequencer.accept(change(5))
        sequencer.accept(change(7))
        assert seqs(sequencer.accept(change(6, first_seq=2))) == [6, 7]
        assert sequencer.early == {}
        assert sequencer.applied_seq == 7
