"""Owners for asyncio tasks, for the agent and the control plane.

No task is ever left without someone to cancel and await it (asyncio keeps only weak references to tasks: one
nobody holds may vanish mid-flight).

``asyncio.TaskGroup`` needs Python 3.11 and ends the group at the first failure; a daemon needs both less and
more: background tasks that live as long as their owner, failures reported where they happen (never as "Task
exception was never retrieved" at exit), and a ``close`` that cancels and awaits every one of them.

    tasks = TaskOwner(on_error=lambda name, exc: log.error("task_failed", task=name, error=repr(exc)))
    tasks.spawn(self._heartbeat(), "heartbeat")
    ...
    await tasks.wait(timeout_s=30)            # optional: lets them end by themselves first
    await tasks.close()                       # cancels and awaits them all (idempotent)

    first = await race(read(), write(), closed.wait())   # the first to end; the others cancelled and awaited
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Coroutine


class TaskOwner:
    """Keeps a reference to each task it started, reports the failure of any, and cancels and awaits them all."""

    def __init__(self, on_error: Callable[[str, BaseException], None] | None = None) -> None:
        """Create an owner.

        Args:
            on_error: Told of each task that ends with an exception (not a cancellation): its name and the error.
        """
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_error = on_error
        self._closed = False

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        """Start ``coroutine`` as a task owned here."""
        if self._closed:
            coroutine.close()
            raise RuntimeError(f"cannot start task {name or coroutine!r}: its owner is closed")
        task = asyncio.ensure_future(coroutine)
        if name:
            task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()  # retrieved here, so asyncio never reports it as forgotten
        if error is not None and self._on_error is not None:
            self._on_error(task.get_name(), error)

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (no task starts any more)."""
        return self._closed

    async def wait(self, timeout_s: float) -> None:
        """Wait until every task ended by itself (tasks they start meanwhile included), for at most ``timeout_s``."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while running := [task for task in self._tasks if not task.done()]:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            await asyncio.wait(running, timeout=remaining)

    async def close(self) -> None:
        """Cancel every task and wait until all have ended (safe to call twice; no new task starts after it)."""
        self._closed = True
        await cancel_and_wait(*self._tasks)


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel ``tasks`` and wait for them to end, retrieving their outcome (errors included) so none is forgotten.

    If the caller itself is cancelled meanwhile, the tasks are still awaited to their end before the cancellation
    goes on.
    """
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    gathered = asyncio.gather(*tasks, return_exceptions=True)
    try:
        await asyncio.shield(gathered)
    except asyncio.CancelledError:
        await gathered
        raise


async def race(*awaitables: Awaitable[Any]) -> asyncio.Future[Any]:
    """Run ``awaitables`` (coroutines or tasks) together until the first one ends; that first one, done.

    The others are cancelled and awaited.

    The caller must read the winner's outcome (``result()`` raises its exception, ``exception()`` returns it);
    every other outcome is retrieved and dropped.
    """
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        await cancel_and_wait(*tasks)  # the caller reads no outcome now: each one is retrieved, even one just done
        raise
    await cancel_and_wait(*(t for t in tasks if not t.done()))
    winner = next(t for t in tasks if t in done)
    for task in tasks:
        if task is not winner and task.done() and not task.cancelled():
            task.exception()  # retrieved: it ended at the same time as the winner
    return winner
