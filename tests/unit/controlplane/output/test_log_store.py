"""Tests for controlplane.log_store: bounded per-work output, tail/since reads, and live subscribers that drop
lines (counted) instead of blocking or growing."""

from __future__ import annotations

import asyncio

import pytest

from lightning_ctl.controlplane.output.log_store import LogStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def texts(lines) -> list[str]:  # noqa: ANN001
    return [line.text for line in lines]


def test_keeps_at_most_max_lines_per_work_dropping_the_oldest() -> None:
    """A work printing more than the bound keeps only its newest lines; other works are unaffected."""
    store = LogStore(max_lines_per_work=3)
    store.append("root.a", "stdout", [f"a{i}" for i in range(10)])
    store.append("root.b", "stdout", ["b0"])
    assert texts(store.lines(["root.a"])) == ["a7", "a8", "a9"]
    assert texts(store.lines(["root.b"])) == ["b0"]


def test_keeps_at_most_max_chars_per_work() -> None:
    """The character bound holds even with few, very long lines (the newest line is always kept)."""
    store = LogStore(max_lines_per_work=100, max_chars_per_work=10)
    store.append("root.a", "stdout", ["aaaa", "bbbb", "cccc"])
    assert texts(store.lines()) == ["bbbb", "cccc"]
    store.append("root.a", "stdout", ["x" * 50])
    assert texts(store.lines()) == ["x" * 50]


def test_lines_of_several_works_come_in_arrival_order() -> None:
    """Reading several works merges their lines in the order the control plane received them."""
    store = LogStore()
    store.append("root.a", "stdout", ["a1"])
    store.append("root.b", "stderr", ["b1", "b2"])
    store.append("root.a", "stdout", ["a2"])
    lines = store.lines()
    assert texts(lines) == ["a1", "b1", "b2", "a2"]
    assert [line.work_name for line in lines] == ["root.a", "root.b", "root.b", "root.a"]
    assert lines[1].stream == "stderr"


def test_tail_takes_the_last_lines_of_the_chosen_works_together() -> None:
    """--tail N is the last N lines across the selected works, not N per work."""
    store = LogStore()
    store.append("root.a", "stdout", ["a1", "a2"])
    store.append("root.b", "stdout", ["b1"])
    store.append("root.a", "stdout", ["a3"])
    assert texts(store.lines(tail=2)) == ["b1", "a3"]
    assert texts(store.lines(["root.a"], tail=2)) == ["a2", "a3"]
    assert store.lines(tail=0) == []


def test_since_keeps_lines_received_from_that_time_on() -> None:
    """--since filters by the time each line was received."""
    clock = Clock()
    store = LogStore(clock=clock)
    store.append("root.a", "stdout", ["old"])
    clock.now += 60
    store.append("root.a", "stdout", ["new"])
    assert texts(store.lines(since=clock.now - 30)) == ["new"]
    assert texts(store.lines(since=clock.now - 30, tail=5)) == ["new"]


def test_unknown_work_names_read_as_empty() -> None:
    """Asking for a work that printed nothing gives no lines rather than an error."""
    store = LogStore()
    store.append("root.a", "stdout", ["a"])
    assert store.lines(["root.quiet"]) == []
    assert store.work_names() == ["root.a"]


def test_subscriber_gets_new_lines_of_its_works_only() -> None:
    """A subscription sees lines appended after it started, for its works only, then ends on close."""

    async def scenario() -> list:
        store = LogStore()
        store.append("root.a", "stdout", ["before"])
        subscription = store.subscribe(["root.a"])
        store.append("root.b", "stdout", ["other work"])
        store.append("root.a", "stdout", ["after 1", "after 2"])
        first = await asyncio.wait_for(subscription.next_batch(), 1.0)
        store.close()
        end = await asyncio.wait_for(subscription.next_batch(), 1.0)
        return [first, end]

    first, end = asyncio.run(scenario())
    assert texts(first.lines) == ["after 1", "after 2"] and first.dropped == 0
    assert end is None


def test_slow_subscriber_drops_lines_and_is_told_how_many() -> None:
    """A reader that falls behind loses the newest lines beyond its bound, and the next batch says how many."""

    async def scenario():  # noqa: ANN202
        store = LogStore()
        subscription = store.subscribe(None, max_pending=5)
        store.append("root.a", "stdout", [f"l{i}" for i in range(12)])
        return await asyncio.wait_for(subscription.next_batch(), 1.0)

    batch = asyncio.run(scenario())
    assert texts(batch.lines) == ["l0", "l1", "l2", "l3", "l4"]
    assert batch.dropped == 7


def test_subscriber_waits_for_lines_without_spinning() -> None:
    """next_batch blocks until a line arrives (it is woken by append, not by polling)."""

    async def scenario():  # noqa: ANN202
        store = LogStore()
        subscription = store.subscribe()
        waiter = asyncio.ensure_future(subscription.next_batch())
        await asyncio.sleep(0.05)
        assert not waiter.done()
        store.append("root.a", "stdout", ["late"])
        return await asyncio.wait_for(waiter, 1.0)

    assert texts(asyncio.run(scenario()).lines) == ["late"]


def test_unsubscribed_reader_gets_nothing_more() -> None:
    """After unsubscribe, appends no longer reach the subscription."""

    async def scenario():  # noqa: ANN202
        store = LogStore()
        subscription = store.subscribe()
        store.unsubscribe(subscription)
        store.append("root.a", "stdout", ["x"])
        return await asyncio.wait_for(subscription.next_batch(), 1.0)

    assert asyncio.run(scenario()) is None


@pytest.mark.parametrize("count", [0, 1])
def test_subscribing_after_close_ends_at_once(count: int) -> None:
    """A reader arriving after the app ended gets the end of the stream immediately."""

    async def scenario():  # noqa: ANN202
        store = LogStore()
        store.append("root.a", "stdout", ["x"] * count)
        store.close()
        return await asyncio.wait_for(store.subscribe().next_batch(), 1.0)

    assert asyncio.run(scenario()) is None
