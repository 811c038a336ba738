"""BackgroundTasks: tasks held until done, their failures logged under the owner's event."""

from __future__ import annotations

import asyncio


class RecordingLog:
    def __init__(self) -> None:
        self.errors: list[tuple[str, dict[str, object]]] = []

    def error(self, event: str, **values: object) -> None:
        self.errors.append((event, values))


def test_a_failed_task_is_logged_and_let_go() -> None:
    """A task that raised is logged once under the owner's event with the error, and is no longer pending."""
    from lightning_ctl.sdk._tasks import BackgroundTasks

    async def fail() -> None:
        raise RuntimeError("engine gone")

    async def scenario() -> tuple[list[asyncio.Task[object]], RecordingLog]:
        log = RecordingLog()
        tasks = BackgroundTasks(log, "owner_task_failed")
        task = tasks.spawn(fail())
        await asyncio.wait([task])
        await asyncio.sleep(0)  # the done callback runs on the next pass of the loop
        return tasks.pending(), log

    pending, log = asyncio.run(scenario())
    assert pending == []
    assert log.errors == [("owner_task_failed", {"error": "RuntimeError('engine gone')"})]


def test_cancel_all_cancels_what_is_still_running() -> None:
    """cancel_all ends the tasks not done; pending() lists only those not done."""
    from lightning_ctl.sdk._tasks import BackgroundTasks

    async def scenario() -> bool:
        tasks = BackgroundTasks(RecordingLog(), "owner_task_failed")
        forever = tasks.spawn(asyncio.Event().wait())
        assert tasks.pending() == [forever]
        tasks.cancel_all()
        await asyncio.wait([forever])
        return forever.cancelled()

    assert asyncio.run(scenario())
