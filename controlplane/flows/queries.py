"""Queries: reading what the flow thread owns (the app's state, works' statuses) from the asyncio thread.

A :class:`Query` goes into the flow loop's inbox like an event; the loop runs its function as it drains the inbox
(between ticks, on the flow thread, also while the app ends), and the result comes back to an asyncio future
through ``call_soon_threadsafe``. The function must return plain values it built (copies, JSON text), never live
objects of the flows.

    QueryBox.ask(fn) ─► inbox ─► flow thread: Query.run(app, runtime) ─► call_soon_threadsafe ─► future ─► ask

Nothing runs on the flow thread unless someone asks: the loop's hot path gains one type check per drained batch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from lightning_ctl.controlplane.errors import AppEndedError, FlowBusyError

if TYPE_CHECKING:
    from lightning_ctl.controlplane.flows.flow_runtime import FlowRuntime
    from lightning_ctl.sdk._app import LightningApp

T = TypeVar("T")

QUERY_TIMEOUT_S = 5.0
"""How long the flow thread may take to answer (it answers between ticks; a flow's run() may be slow)."""


@dataclass(frozen=True)
class Query:
    """A function to run on the flow thread, and the asyncio future that gets its result."""

    fn: Callable[[LightningApp, FlowRuntime], Any]
    future: asyncio.Future[Any]
    changes_state: bool = False
    """The function may change the app's state (a REST write, an API handler): the flows run again after it."""

    def run(self, app: LightningApp, runtime: FlowRuntime) -> None:
        """Run the function (on the flow thread) and hand its result or error to the future's loop.

        A query whose asker already gave up (timed out) is not run: a request answered 504 changes nothing later.
        """
        if self.future.done():
            return
        try:
            result, error = self.fn(app, runtime), None
        except Exception as exc:  # noqa: BLE001 - goes back to the asker, never into the flow loop
            result, error = None, exc
        try:
            self.future.get_loop().call_soon_threadsafe(_settle, self.future, result, error)
        except RuntimeError:
            pass  # the asyncio loop is closed: nobody is waiting any more


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the asker gave up (timeout, cancelled)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class QueryBox:
    """Asks the flow thread questions (used on the asyncio thread only)."""

    def __init__(self, submit: Callable[[Query], bool], timeout_s: float = QUERY_TIMEOUT_S) -> None:
        """Create the box.

        Args:
            submit: Puts a query in the flow loop's inbox; False when there is no flow loop to take it.
            timeout_s: How long to wait for an answer.
        """
        self._submit = submit
        self._timeout_s = timeout_s
        self._pending: set[asyncio.Future[Any]] = set()
        self._closed_reason: str | None = None

    async def ask(
        self,
        fn: Callable[[LightningApp, FlowRuntime], T],
        timeout_s: float | None = None,
        changes_state: bool = False,
    ) -> T:
        """Run ``fn(app, runtime)`` on the flow thread and return its result (or raise its exception).

        Args:
            fn: What to run; it returns plain values it built, never live objects of the flows.
            timeout_s: How long to wait for the answer (default: the box's timeout).
            changes_state: ``fn`` may change the app's state, so the flows run again after it.

        Raises:
            AppEndedError: the app has ended, or ends while waiting.
            FlowBusyError: no answer within the timeout.
        """
        if self._closed_reason is not None:
            raise AppEndedError(self._closed_reason)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if not self._submit(Query(fn, future, changes_state)):
            raise AppEndedError("the app's flows are not running (the app is starting or has ended)")
        self._pending.add(future)
        timeout_s = self._timeout_s if timeout_s is None else timeout_s
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except asyncio.TimeoutError:
            raise FlowBusyError(
                f"the app's flows did not answer within {timeout_s:g} s (a flow's run() is taking long)"
            ) from None
        finally:
            self._pending.discard(future)
            if not future.done():
                future.cancel()

    def close(self, reason: str = "the app has ended") -> None:
        """Refuse new queries and fail those still waiting with ``reason``."""
        self._closed_reason = reason
        for future in list(self._pending):
            if not future.done():
                future.set_exception(AppEndedError(reason))
        self._pending.clear()

    @property
    def is_closed(self) -> bool:
        """Whether the box refuses queries."""
        return self._closed_reason is not None
