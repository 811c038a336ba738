"""EventSequencer: one work process's numbered events, applied exactly once and in order.

A work process numbers its events from 1 and keeps each one until the control plane acknowledges it, sending all it
keeps again after any reconnection; when its buffer fills up it merges a run of consecutive attribute changes into
one event covering seqs ``first_seq..seq``. So an event may arrive twice, arrive ahead of a gap (what was lost in
flight comes again later), or cover a range that overlaps what was already applied.

    event ─► seq <= applied_seq ───────────► dropped (a duplicate)
          ─► first_seq > applied_seq + WINDOW ► dropped (too far ahead: the resend after a reconnection brings it)
          ─► first_seq > applied_seq + 1 ──► kept aside until the gap before it is filled
          ─► otherwise ────────────────────► applied, then each kept-aside event it made contiguous

Applying an overlapping merged change again is harmless: it carries each attribute's whole latest value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lightning_ctl.sdk._events import WorkEvent

SEQ_WINDOW = 1024
"""How far past the next expected seq an event may wait for a gap to fill; one further ahead is dropped, so early
events never hold more than this many (a process flooding far-ahead seqs cannot grow the control plane's memory)."""


@dataclass
class EventSequencer:
    """Which events of one work process were applied, and those waiting for a gap to be filled."""

    applied_seq: int = 0
    """Every event up to this seq was applied (what the control plane acknowledges and checkpoints)."""
    early: dict[int, WorkEvent] = field(default_factory=dict)
    """Events that arrived ahead of a gap, by the first seq they cover (the widest one when several do)."""

    def accept(self, event: WorkEvent) -> list[WorkEvent]:
        """The events to apply now that ``event`` arrived, in order: none for a duplicate or an early event."""
        if event.seq <= self.applied_seq:
            return []
        first = event.first_seq or event.seq
        if first > self.applied_seq + SEQ_WINDOW:
            return []
        if first > self.applied_seq + 1:
            kept = self.early.get(first)
            if kept is None or kept.seq < event.seq:
                self.early[first] = event
            return []
        ready = [event]
        self.applied_seq = event.seq
        while (following := self._take_contiguous()) is not None:
            ready.append(following)
            self.applied_seq = following.seq
        return ready

    def _take_contiguous(self) -> WorkEvent | None:
        """The kept-aside event that continues ``applied_seq``, dropping those it already covers."""
        for first in sorted(self.early):
            if first > self.applied_seq + 1:
                return None
            event = self.early.pop(first)
            if event.seq > self.applied_seq:
                return event
        return None
