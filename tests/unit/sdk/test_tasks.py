"""Task owners: every task cancelled and awaited, every failure reported, none forgotten."""

from __future__ import annotations

import asyncio
import gc

import pytest

from lightning_ctl.sdk._tasks import TaskOwner, cancel_and_wait, race


async def _fail(message: str) -> None:
    await asyncio.sleep(0)
    raise ValueError(message)


class TestTaskOwner:
    def test_close_cancels_and_awaits_every_task(self) -> None:
        """close() ends every task (they see the cancellation) and is safe twice."""
        ended: list[str] = []

        async def forever(name: str) -> None:
            try:
                await asyncio.Event().wait()
            finally:
                ended.append(name)

        async def main() -> None:
            owner = TaskOwner()
            owner.spawn(forever("a"), "a")
            owner.spawn(forever("b"), "b")
            await asyncio.sleep(0)
            await owner.close()
            await owner.close()
            assert len(owner) == 0

        asyncio.run(main())
        assert sorted(ended) == ["a", "b"]

    def test_a_failure_is_reported_with_the_tasks_name(self) -> None:
        """A failing task reaches on_error (name and error), not asyncio's "never retrieved"."""
        errors: list[tuple[str, str]] = []

        async def main() -> None:
            owner = TaskOwner(on_error=lambda name, exc: errors.append((name, str(exc))))
            owner.spawn(_fail("boom"), "reader")
            await asyncio.sleep(0.01)
            await owner.close()

        asyncio.run(main())
        assert errors == [("reader", "boom")]

    def test_a_failed_task_is_reported_once_and_let_go(self) -> None:
        """A task that raised is reported once, with its error, and the owner no longer holds it."""
        errors: list[tuple[str, str]] = []

        async def main() -> int:
            owner = TaskOwner(on_error=lambda name, exc: errors.append((name, repr(exc))))
            task = owner.spawn(_fail("engine gone"), "submit")
            await asyncio.wait([task])
            await asyncio.sleep(0)  # the done callback runs on the next pass of the loop
            return len(owner)

        assert asyncio.run(main()) == 0
        assert errors == [("submit", "ValueError('engine gone')")]

    def test_wait_lets_tasks_end_by_themselves_until_its_timeout(self) -> None:
        """wait() returns once the tasks ended on their own (those they started included), or at its timeout with
        the others still running; close() then cancels those."""
        async def main() -> tuple[bool, bool, bool]:
            owner = TaskOwner()
            started: list[asyncio.Task[object]] = []

            async def starts_another() -> None:
                await asyncio.sleep(0)
                started.append(owner.spawn(asyncio.sleep(0.01), "follow-up"))

            first = owner.spawn(starts_another(), "first")
            await owner.wait(timeout_s=30)
            ended_by_itself = all(t.done() and not t.cancelled() for t in (first, *started)) and len(started) == 1
            forever = owner.spawn(asyncio.Event().wait(), "forever")
            await owner.wait(timeout_s=0.01)
            still_running = not forever.done()
            await owner.close()
            return ended_by_itself, still_running, forever.cancelled()

        assert asyncio.run(main()) == (True, True, True)

    def test_no_new_task_after_close(self) -> None:
        """A closed owner refuses new tasks (and closes the coroutine it was given)."""
        async def main() -> None:
            owner = TaskOwner()
            await owner.close()
            coroutine = asyncio.sleep(1)
            with pytest.raises(RuntimeError):
                owner.spawn(coroutine, "late")

        asyncio.run(main())


class TestRace:
    def test_the_first_to_end_wins_and_the_others_are_cancelled(self) -> None:
        """race returns the first finished; the others were cancelled and awaited."""
        cancelled: list[bool] = []

        async def slow() -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        async def main() -> str:
            winner = await race(slow(), asyncio.sleep(0, result="fast"))
            return winner.result()

        assert asyncio.run(main()) == "fast"
        assert cancelled == [True]

    def test_errors_of_losers_are_retrieved(self, recwarn: pytest.WarningsRecorder) -> None:
        """Tasks failing at the same time as the winner leave no "exception was never retrieved"."""
        reported: list[dict] = []

        async def main() -> None:
            asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context))
            winner = await race(_fail("a"), _fail("b"))
            assert isinstance(winner.exception(), ValueError)
            gc.collect()

        asyncio.run(main())
        assert reported == []

    def test_a_cancelled_race_retrieves_what_failed_meanwhile(self) -> None:
        """The caller is cancelled just as a racer fails: that failure is retrieved all the same (nobody will read
        the winner), so asyncio never reports it as forgotten."""
        reported: list[dict] = []

        async def main() -> None:
            asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context))
            gate = asyncio.Event()

            async def fails_when_opened() -> None:
                await gate.wait()
                raise ValueError("lost")

            racer = asyncio.ensure_future(race(fails_when_opened(), asyncio.Event().wait()))
            for _ in range(3):
                await asyncio.sleep(0)  # the race started its tasks and waits for the first
            gate.set()  # the racer fails on the loop's next turn...
            racer.cancel()  # ...the same turn the race sees its cancellation
            with pytest.raises(asyncio.CancelledError):
                await racer
            gc.collect()

        asyncio.run(main())
        assert reported == []

    def test_cancel_and_wait_with_nothing(self) -> None:
        """Nothing to cancel: returns at once."""
        asyncio.run(cancel_and_wait())
