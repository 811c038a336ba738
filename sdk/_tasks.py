"""BackgroundTasks: asyncio tasks started and not awaited where they start (shared by the agent and the control plane).

asyncio keeps only weak references to tasks: one nobody holds may vanish mid-flight. The set holds each until it
is done, and logs how one failed, since nobody awaits it to see the exception.
"""

from __future__ import annotations

import asyncio
from typing import Any, Coroutine


class BackgroundTasks:
    """The tasks one owner started in the background, until each is done."""

    def __init__(self, log: Any, failed_event: str) -> None:
        """Create the set.

        Args:
            log: The owner's structlog logger.
            failed_event: The event it logs, with the error, when one of its tasks failed.
        """
        self._tasks: set[asyncio.Task[Any]] = set()
        self._log = log
        self._failed_event = failed_event

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coroutine`` as a task held here until it is done."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def pending(self) -> list[asyncio.Task[Any]]:
        """The tasks not done yet."""
        return [task for task in self._tasks if not task.done()]

    def cancel_all(self) -> None:
        """Cancel every task not done yet."""
        for task in self.pending():
            task.cancel()

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error(self._failed_event, error=repr(task.exception()))
