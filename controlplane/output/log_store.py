"""LogStore: the last lines each work printed, kept in memory for ``lightning-ctl logs``, and live subscribers.

Runs on the asyncio thread only (lines arrive there from the agents' streams). Memory is bounded twice per work:
at most ``max_lines`` lines and ``max_chars`` characters; the oldest go first. A subscriber (``logs -f``) has a
bounded queue of its own: when its reader falls behind, new lines are dropped and counted, and the reader is told
how many it lost, so a slow reader never blocks the agents' streams nor makes memory grow.

    agent stream ─► append(work, stream, lines) ─► ring buffer per work
                                               └─► each matching subscription (bounded; drops when full)
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import time
from typing import Callable, Collection, Iterable, Sequence

from lightning_ctl.controlplane.api.app_view import LogBatch, LogLine

MAX_LINES_PER_WORK = 10_000
MAX_CHARS_PER_WORK = 8 * 2**20
"""With lines cut at 16 KiB by the agent, 10,000 lines could otherwise hold 160 MiB for one work."""
MAX_PENDING_PER_SUBSCRIBER = 10_000
MAX_PENDING_CHARS_PER_SUBSCRIBER = 8 * 2**20
MAX_CHARS_PER_BATCH = 2**20
"""Batches handed to readers stay well under gRPC's 4 MiB message limit."""

_Entry = tuple[int, float, str, str, str]
"""(seq, timestamp, work_name, stream, text): tuples, because append runs for every line a work prints."""


class _WorkLines:
    __slots__ = ("entries", "chars")

    def __init__(self) -> None:
        self.entries: collections.deque[_Entry] = collections.deque()
        self.chars = 0


class LogSubscription:
    """The new lines of some works, for one reader; bounded (lines beyond ``max_pending`` are dropped)."""

    def __init__(self, work_names: Collection[str] | None, max_pending: int) -> None:
        self.work_names = frozenset(work_names) if work_names else None
        self._max_pending = max_pending
        self._pending: collections.deque[_Entry] = collections.deque()
        self._pending_chars = 0
        self._dropped = 0
        self._wakeup = asyncio.Event()
        self._closed = False

    def wants(self, work_name: str) -> bool:
        """Whether this subscription is for ``work_name``."""
        return self.work_names is None or work_name in self.work_names

    def push(self, entries: list[_Entry]) -> None:
        """Queue new lines; those beyond the bound are counted as dropped."""
        if self._closed:
            return
        for index, entry in enumerate(entries):
            if (len(self._pending) >= self._max_pending
                    or self._pending_chars + len(entry[4]) > MAX_PENDING_CHARS_PER_SUBSCRIBER):
                self._dropped += len(entries) - index
                break
            self._pending.append(entry)
            self._pending_chars += len(entry[4])
        self._wakeup.set()

    async def next_batch(self) -> LogBatch | None:
        """The lines queued since the last batch (waiting for some); None once closed and drained."""
        while not self._pending and not self._dropped:
            if self._closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        entries: list[_Entry] = []
        chars = 0
        while self._pending and (not entries or chars < MAX_CHARS_PER_BATCH):
            entry = self._pending.popleft()
            self._pending_chars -= len(entry[4])
            entries.append(entry)
            chars += len(entry[4])
        dropped, self._dropped = self._dropped, 0
        return LogBatch(tuple(_line(e) for e in entries), dropped)

    def close(self) -> None:
        """End the subscription: ``next_batch`` returns what is queued, then None."""
        self._closed = True
        self._wakeup.set()

    @property
    def is_closed(self) -> bool:
        """Whether the subscription was closed."""
        return self._closed


def _line(entry: _Entry) -> LogLine:
    return LogLine(entry[2], entry[1], entry[3], entry[4])


class LogStore:
    """The last lines of each work, and the subscribers that follow new ones."""

    def __init__(
        self,
        max_lines_per_work: int = MAX_LINES_PER_WORK,
        max_chars_per_work: int = MAX_CHARS_PER_WORK,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._max_lines = max_lines_per_work
        self._max_chars = max_chars_per_work
        self._clock = clock
        self._works: dict[str, _WorkLines] = {}
        self._next_seq = 0
        self._subscriptions: set[LogSubscription] = set()
        self._closed = False

    def append(self, work_name: str, stream: str, lines: Sequence[str] | Iterable[str]) -> None:
        """Keep lines ``work_name`` wrote to ``stream`` ("stdout" or "stderr") and pass them to subscribers."""
        lines = lines if isinstance(lines, (list, tuple)) else list(lines)
        if not lines:
            return
        first, self._next_seq = self._next_seq, self._next_seq + len(lines)
        repeat = itertools.repeat
        entries = list(
            zip(range(first, self._next_seq), repeat(self._clock()), repeat(work_name), repeat(stream), lines, strict=False)
        )
        kept = self._works.get(work_name)
        if kept is None:
            kept = self._works[work_name] = _WorkLines()
        kept.entries.extend(entries)
        kept.chars += sum(map(len, lines))
        while len(kept.entries) > self._max_lines or (kept.chars > self._max_chars and len(kept.entries) > 1):
            kept.chars -= len(kept.entries.popleft()[4])
        for subscription in self._subscriptions:
            if subscription.wants(work_name):
                subscription.push(entries)

    def work_names(self) -> list[str]:
        """The works that printed anything, sorted."""
        return sorted(self._works)

    def lines(
        self, work_names: Collection[str] | None = None, tail: int | None = None, since: float | None = None
    ) -> list[LogLine]:
        """Kept lines of ``work_names`` (every work when None), oldest first.

        Args:
            work_names: The works (full names) whose lines to return; None for every work.
            tail: Only the last ``tail`` lines of those works together.
            since: Only lines received at or after this epoch second.
        """
        names = self._works.keys() if work_names is None else [n for n in work_names if n in self._works]
        per_work: list[Iterable[_Entry]] = []
        for name in names:
            entries: Iterable[_Entry] = self._works[name].entries
            if tail is not None:
                entries = itertools.islice(reversed(self._works[name].entries), tail)
                entries = list(entries)[::-1]
            if since is not None:
                entries = [e for e in entries if e[1] >= since]
            per_work.append(entries)
        merged = list(heapq.merge(*per_work))
        if tail is not None:
            merged = merged[-tail:] if tail > 0 else []
        return [_line(e) for e in merged]

    def subscribe(
        self, work_names: Collection[str] | None = None, max_pending: int = MAX_PENDING_PER_SUBSCRIBER
    ) -> LogSubscription:
        """Follow new lines of ``work_names`` (every work when None or empty); ``unsubscribe`` when done."""
        subscription = LogSubscription(work_names, max_pending)
        if self._closed:
            subscription.close()
        else:
            self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: LogSubscription) -> None:
        """Stop passing lines to ``subscription``."""
        self._subscriptions.discard(subscription)
        subscription.close()

    def close(self) -> None:
        """The app ended: end every subscription (readers get what is queued, then the end of the stream)."""
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.close()
        self._subscriptions.clear()
