"""Tests for controlplane.queries with a real FlowLoop: questions from the asyncio thread are answered on the flow
thread between ticks, without making an idle loop run the flows, and never hang once the app ended."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Any

import pytest

from lightning_ctl.controlplane.api.app_service import read_state_json, read_work_names, read_works
from lightning_ctl.controlplane.flows.flow_runtime import FlowRuntime
from lightning_ctl.controlplane.flows.loop import AppEnded, FlowLoop, StopRequested
from lightning_ctl.controlplane.flows.queries import AppEndedError, FlowBusyError, Query, QueryBox
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk._events import ProcessExited, WorkEvent
from lightning_ctl.sdk._runtime import set_runtime
from tests.helpers import wait_until

TIMEOUT_S = 10.0


class Job(LightningWork):
    def __init__(self) -> None:
        super().__init__(parallel=True, start_with_flow=False)
        self.count = 0

    def run(self) -> None:
        self.count += 1


class Quiet(LightningFlow):
    """Changes nothing after its first run: only events (or nothing) should make it run again."""

    def __init__(self) -> None:
        super().__init__()
        self.job = Job()
        self.note = "hello"

    def run(self) -> None:
        pass


class Sleepy(LightningFlow):
    """Its run takes a while: the flow thread cannot answer during it."""

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    def run(self) -> None:
        self.runs += 1
        time.sleep(0.5)


@pytest.fixture
def flow_loop():
    """Start a FlowLoop for a root flow; stop it at teardown."""
    loops: list[FlowLoop] = []

    def start(root: LightningFlow) -> tuple[FlowLoop, queue.Queue[AppEnded]]:
        ended: queue.Queue[AppEnded] = queue.Queue()
        loop = FlowLoop(
            LightningApp(root), FlowRuntime("/apps/app.py", {}, 1.0), lambda commands: None, ended.put
        )
        loops.append(loop)
        loop.start()
        return loop, ended

    yield start
    for loop in loops:
        loop.inbox.put(StopRequested(0, "test teardown"))
        loop._thread.join(timeout=TIMEOUT_S)
    set_runtime(None)


def box_for(loop: FlowLoop, timeout_s: float = 2.0) -> QueryBox:
    def submit(query: Query) -> bool:
        loop.inbox.put(query)  # type: ignore[arg-type]
        return True

    return QueryBox(submit, timeout_s)


def test_query_runs_on_the_flow_thread_and_returns_its_result(flow_loop) -> None:
    """The function runs on the flow thread (not the asyncio one) and its value comes back to the asker."""
    loop, _ = flow_loop(Quiet())
    wait_until(lambda: loop.ticks >= 1, TIMEOUT_S)

    async def ask() -> Any:
        box = box_for(loop)
        return await box.ask(lambda app, runtime: (threading.current_thread().name, app.root.note))

    assert asyncio.run(ask()) == ("flow-loop", "hello")


def test_queries_do_not_make_an_idle_loop_run_the_flows(flow_loop) -> None:
    """Answering 20 queries adds no tick: the loop's hot path only gains an isinstance check."""
    loop, _ = flow_loop(Quiet())
    wait_until(lambda: loop.ticks >= 1, TIMEOUT_S)
    ticks = loop.ticks

    async def ask_many() -> list[str]:
        box = box_for(loop)
        return [await box.ask(lambda app, runtime: app.root.note) for _ in range(20)]

    assert asyncio.run(ask_many()) == ["hello"] * 20
    assert loop.ticks == ticks


def test_query_errors_reach_the_asker_and_the_loop_goes_on(flow_loop) -> None:
    """An exception in the query's function is raised to the asker; the app keeps running."""
    loop, ended = flow_loop(Quiet())

    async def ask() -> None:
        await box_for(loop).ask(lambda app, runtime: 1 / 0)

    with pytest.raises(ZeroDivisionError):
        asyncio.run(ask())
    assert ended.empty() and loop._thread.is_alive()


def test_busy_flow_times_out_with_a_clear_error(flow_loop) -> None:
    """A flow whose run() is slow makes the query fail after the box's timeout, saying why."""
    loop, _ = flow_loop(Sleepy())
    wait_until(lambda: loop.app.root.runs >= 1, TIMEOUT_S)

    async def ask() -> None:
        await box_for(loop, timeout_s=0.05).ask(lambda app, runtime: None)

    with pytest.raises(FlowBusyError, match="did not answer within 0.05 s"):
        asyncio.run(ask())


def test_closing_the_box_fails_waiting_and_new_queries() -> None:
    """Once the app ended, a query that was waiting fails at once, and new ones are refused."""

    async def scenario() -> tuple[BaseException | None, BaseException | None]:
        box = QueryBox(lambda query: True, timeout_s=5.0)  # nobody ever answers
        waiting = asyncio.ensure_future(box.ask(lambda app, runtime: None))
        await asyncio.sleep(0.01)
        box.close("the app has ended")
        first = await asyncio.gather(waiting, return_exceptions=True)
        try:
            await box.ask(lambda app, runtime: None)
            later = None
        except AppEndedError as exc:
            later = exc
        return first[0], later

    first, later = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT_S))
    assert isinstance(first, AppEndedError) and isinstance(later, AppEndedError)


def test_a_box_without_a_flow_loop_refuses_at_once() -> None:
    """Before the flow loop exists (submit returns False) the asker is told the app is not running."""

    async def ask() -> None:
        await QueryBox(lambda query: False).ask(lambda app, runtime: None)

    with pytest.raises(AppEndedError, match="not running .the app is starting or has ended"):
        asyncio.run(ask())


def test_queries_are_answered_during_teardown(flow_loop) -> None:
    """While the app ends (works stopping), status queries still get answers."""

    class Starts(LightningFlow):
        def __init__(self) -> None:
            super().__init__()
            self.job = Job()

        def run(self) -> None:
            self.job.run()

    loop, ended = flow_loop(Starts())
    wait_until(lambda: loop.ticks >= 1, TIMEOUT_S)
    loop.runtime.works["root.job"].pid = 1234  # as if its process had reported in: teardown waits for it
    loop.inbox.put(StopRequested(0, "stop"))
    wait_until(lambda: loop.app.stage.value == "stopping", TIMEOUT_S)  # the loop is in its teardown now

    async def ask() -> Any:
        return await box_for(loop).ask(read_works)

    stage, works = asyncio.run(ask())
    assert stage == "stopping" and works[0].pid == 1234
    loop.inbox.put(WorkEvent("root.job", 1, 1, ProcessExited(1234, 0)))
    assert ended.get(timeout=TIMEOUT_S).exit_code == 0


def test_status_and_state_reads(flow_loop) -> None:
    """The flow-thread reads give the stage, each work's status and process, and the state as JSON."""
    loop, _ = flow_loop(Quiet())
    wait_until(lambda: loop.ticks >= 1, TIMEOUT_S)

    async def ask() -> tuple:
        box = box_for(loop)
        return (
            await box.ask(read_works),
            await box.ask(read_work_names),
            await box.ask(read_state_json(False)),
            await box.ask(read_state_json(True)),
        )

    (stage, works), names, pretty, full = asyncio.run(ask())
    assert stage == "running" and names == ["root.job"]
    assert works[0].work_name == "root.job" and works[0].stage == "not_started" and works[0].attempt == 0
    assert '"note": "hello"' in pretty and '"calls"' not in pretty and '"app_state"' in pretty
    assert '"calls"' in full


def test_a_query_drained_with_a_stop_is_still_answered(flow_loop) -> None:
    """A query that arrives in the same batch as a stop (here: both queued during a slow run) gets its answer."""
    loop, ended = flow_loop(Sleepy())
    wait_until(lambda: loop.app.root.runs >= 1, TIMEOUT_S)  # inside its 0.5 s run: the inbox is not drained

    async def ask() -> Any:
        loop.inbox.put(StopRequested(0, "stop"))  # the stop first, then the query, both before the run ends
        return await box_for(loop, timeout_s=5.0).ask(lambda app, runtime: app.root.runs)

    assert asyncio.run(ask()) >= 1
    assert ended.get(timeout=TIMEOUT_S).exit_code == 0


def test_a_query_that_changes_the_state_makes_the_flows_run_again(flow_loop) -> None:
    """A REST write or an API handler changes the state between runs: the flows must see it on a run of their own."""
    loop, _ = flow_loop(Quiet())
    wait_until(lambda: loop.ticks >= 1, TIMEOUT_S)
    ticks = loop.ticks

    async def write() -> None:
        await box_for(loop).ask(lambda app, runtime: setattr(app.root, "note", "changed"), changes_state=True)

    asyncio.run(write())
    wait_until(lambda: loop.ticks > ticks, TIMEOUT_S, what="a run after the write")


def test_a_query_whose_asker_gave_up_does_not_run(flow_loop) -> None:
    """A handler answered 504 (timed out while the flows were busy) must not change the state later."""
    loop, _ = flow_loop(Sleepy())
    wait_until(lambda: loop.ticks >= 1, TIMEOUT_S)
    ran = threading.Event()

    async def ask() -> None:
        with pytest.raises(FlowBusyError):
            await box_for(loop, timeout_s=0.05).ask(lambda app, runtime: ran.set())

    asyncio.run(ask())
    # The flow thread drains the inbox at its next gap; the query must be skipped there.
    runs = loop.app.root.runs
    wait_until(lambda: loop.app.root.runs >= runs + 2, TIMEOUT_S, what="two more runs")
    assert not ran.is_set()


def test_the_state_watch_signals_once_until_the_watcher_reads(flow_loop) -> None:
    """While watched, runs of the flows signal once; the next signal comes only after the watcher's read re-arms."""
    loop, _ = flow_loop(Sleepy())
    signals: list[float] = []
    loop.state_watch.attach(lambda: signals.append(time.monotonic()))
    wait_until(lambda: loop.app.root.runs >= 3, TIMEOUT_S)
    assert len(signals) == 1
    loop.state_watch.rearm()
    wait_until(lambda: len(signals) == 2, TIMEOUT_S, what="a second signal after re-arming")
    loop.state_watch.attach(None)
