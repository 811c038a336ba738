"""The control plane's console: each line a work prints, prefixed by the work's name.

Writing happens on a thread of its own, behind a bounded backlog: a slow terminal or pipe never stalls the
control plane's event loop, and a flood beyond the backlog is dropped with a marker (``lightning-ctl logs`` and the
agents' log files still have every line).
"""

from __future__ import annotations

import queue
import sys
import threading
from typing import Callable, TextIO

from lightning_ctl.sdk._events import LinesLogged

MAX_BACKLOG_BYTES = 8 * 2**20


class Console:
    """Writes work output to ``out`` as ``<work name> | <line>``."""

    def __init__(self, out: TextIO | None = None, max_backlog_bytes: int = MAX_BACKLOG_BYTES) -> None:
        self._out = out or sys.stdout
        self._max_backlog = max_backlog_bytes
        self._backlog = 0
        self._dropped = 0
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[str, int, Callable[[], None]] | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write_loop, name="console", daemon=True)
        self._writer.start()

    def print_lines(self, work_name: str, logged: LinesLogged, on_written: Callable[[], None] = lambda: None) -> None:
        """Queue the lines a work wrote for printing (dropped, and counted, beyond the backlog).

        ``on_written`` is called once they are written (or dropped): only then may the agent forget them.
        """
        text = "".join(f"{work_name} | {line}\n" for line in logged.lines)
        with self._lock:
            if self._backlog + len(text) > self._max_backlog:
                self._dropped += len(logged.lines)
                on_written()
                return
            self._backlog += len(text)
        self._queue.put((text, len(text), on_written))

    def _write_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            text, size, on_written = item
            with self._lock:
                self._backlog -= size
                dropped, self._dropped = self._dropped, 0
            if dropped:
                text = f"[lightning-ctl] {dropped} lines not shown here: the console fell behind\n" + text
            try:
                self._out.write(text)
                self._out.flush()
            except (OSError, ValueError):
                pass  # the terminal is gone: output still reaches lightning-ctl logs and the agents' files
            on_written()

    def close(self, timeout_s: float = 5.0) -> None:
        """Print what is queued (waiting at most ``timeout_s``) and stop the writer."""
        self._queue.put(None)
        self._writer.join(timeout_s)
