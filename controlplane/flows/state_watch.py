"""StateWatch: how the flow thread tells the asyncio side that the app's state may have changed.

Only while someone watches (a browser on ``/view``, a client of the push stream), and once per burst: the flow
thread signals after a run of the flows; the watcher then reads the state with a query, which re-arms the signal
on the flow thread. With nobody watching, the loop pays one attribute check per run.

    flow thread: tick ─► changed() ─(first since the last read)─► notify() ─► asyncio: read the state (a query)
                                                                              └─► rearm() on the flow thread
"""

from __future__ import annotations

from typing import Callable


class StateWatch:
    """A signal from the flow thread to a watcher on the asyncio thread, raised at most once per read."""

    def __init__(self) -> None:
        self._notify: Callable[[], object] | None = None
        self._signaled = False

    def attach(self, notify: Callable[[], object] | None) -> None:
        """Start (or, with None, stop) watching.

        ``notify`` is called from the flow thread, and must be thread-safe (e.g.
        ``loop.call_soon_threadsafe``).
        """
        self._notify = notify

    @property
    def is_watched(self) -> bool:
        """Whether someone watches."""
        return self._notify is not None

    def changed(self) -> None:
        """The state may have changed (flow thread): notify the watcher unless it has not read since the last one."""
        notify = self._notify
        if notify is not None and not self._signaled:
            self._signaled = True
            notify()

    def rearm(self) -> None:
        """The watcher is reading the state now (flow thread, inside its query): signal the next change again."""
        self._signaled = False
