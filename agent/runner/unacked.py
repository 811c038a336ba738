"""UnackedEvents: the events a work process sent and the control plane has not acknowledged yet, by seq.

Every event is kept until acknowledged and sent again after any reconnection, so the buffer is what makes delivery
exactly-once across agent restarts and lost sessions. It is bounded: past ``limit`` events, each run of
consecutive attribute changes is merged into one event carrying the latest value of each attribute and the seq
range it covers (``first_seq..seq``), which the control plane applies in order like any other; a merge stays
within ``max_merge_bytes`` (the attribute limit), so a merged change is never refused for its size. Statuses,
exits and errors are never merged or dropped, and a merge never crosses one, so no change moves past a status.

    add(batch) ─► kept by seq ─► over the limit? merge runs of attribute changes
    ack(seq) ─► everything up to seq forgotten
"""

from __future__ import annotations

from collections import OrderedDict

from lightning_ctl.protos.lightning.v1 import events_pb2
from lightning_ctl.protos.limits import DEFAULT_MAX_ATTRIBUTE_BYTES

MAX_UNACKED_EVENTS = 10_000


class UnackedEvents:
    """Events sent and not yet acknowledged, oldest first (not thread-safe: its owner locks around it)."""

    def __init__(self, limit: int = MAX_UNACKED_EVENTS, max_merge_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES) -> None:
        self._limit = limit
        self.max_merge_bytes = max_merge_bytes
        """The most attribute bytes one merged change may carry (the app's attribute size limit)."""
        self._events: OrderedDict[int, events_pb2.WorkEvent] = OrderedDict()

    def __len__(self) -> int:
        return len(self._events)

    def add(self, events: list[events_pb2.WorkEvent]) -> None:
        """Keep newly sent events (in seq order); merge attribute changes if the buffer is over its limit."""
        for event in events:
            self._events[event.seq] = event
        if len(self._events) > self._limit:
            self._coalesce()

    def ack(self, seq: int) -> None:
        """The control plane applied every event up to ``seq``: forget them."""
        while self._events and next(iter(self._events)) <= seq:
            self._events.popitem(last=False)

    def events(self) -> list[events_pb2.WorkEvent]:
        """Every event kept, oldest first (to send again)."""
        return list(self._events.values())

    def _coalesce(self) -> None:
        """Merge each run of consecutive attribute changes into one, the latest value per attribute winning.

        Each merge stays within ``max_merge_bytes``.
        """
        merged: OrderedDict[int, events_pb2.WorkEvent] = OrderedDict()
        run: list[events_pb2.WorkEvent] = []
        run_bytes = 0

        def close_run() -> None:
            nonlocal run, run_bytes
            if run:
                combined = run[0] if len(run) == 1 else _merge(run)
                merged[combined.seq] = combined
            run, run_bytes = [], 0

        for event in self._events.values():
            if event.WhichOneof("kind") != "delta":
                close_run()
                merged[event.seq] = event
                continue
            size = sum(len(value) for value in event.delta.values.values())
            if run and run_bytes + size > self.max_merge_bytes:
                close_run()
            run.append(event)
            run_bytes += size
        close_run()
        self._events = merged


def _merge(run: list[events_pb2.WorkEvent]) -> events_pb2.WorkEvent:
    """One attribute change standing for ``run`` (consecutive changes), covering its whole seq range."""
    first = run[0].first_seq or run[0].seq
    event = events_pb2.WorkEvent(work_name=run[0].work_name, attempt=run[0].attempt, seq=run[-1].seq,
                                 first_seq=first)
    for part in run:
        event.delta.values.update(part.delta.values)
    event.delta.command_seq = max(part.delta.command_seq for part in run)  # echoes confirm cumulatively
    return event
