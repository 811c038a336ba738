"""WorkLogFile: all the output of one work process, kept on the agent's disk in rotated files.

``<agent home>/logs/<work_name>/<attempt>.log`` (layout and line format: ``sdk._work_log_format``), one line per
output line, as relayed (decoded, long lines cut). A file reaching ``max_bytes`` is rotated (``.1`` …
``.<backups>``, the oldest dropped), so one work's files hold at most ``max_bytes × (backups + 1)`` of disk. A file left by an earlier run of the same app is rotated away before the
first write, so each process starts a fresh one.

Writes are cheap enough for the agent's event loop: one ``os.write`` of the whole batch (one syscall per batch of
lines) and one timestamp per batch. A failing disk (full, read-only) turns the file off with one warning; the
output still reaches the control plane.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Sequence

import structlog

from lightning_ctl.sdk._work_log_format import format_lines

log = structlog.get_logger(component="work_logs")

MAX_BYTES = 10 * 2**20
BACKUPS = 5


class WorkLogFile:
    """Appends one work process's output lines to its rotated log file."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        self.path = path
        self._max_bytes = max_bytes
        self._backups = backups
        self._fd: int | None = None
        self._size = 0
        self._failed = False
        self._has_opened = False

    def write(self, stream: str, lines: Sequence[str]) -> None:
        """Append ``lines`` that the work wrote to ``stream`` ("stdout" or "stderr")."""
        if self._failed or not lines:
            return
        data = format_lines(stream, lines, datetime.datetime.now(datetime.timezone.utc))
        try:
            if self._fd is None:
                self._open()
            elif self._size and self._size + len(data) > self._max_bytes:
                self._rotate()
            assert self._fd is not None
            written = os.write(self._fd, data)
            while written < len(data):  # a short write (rare, e.g. a signal): finish it
                written += os.write(self._fd, data[written:])
            self._size += len(data)
        except OSError as exc:
            self._failed = True
            self.close()
            log.warning(
                "work_log_file_disabled",
                path=str(self.path),
                error=str(exc),
                hint="the output still reaches the control plane",
            )

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self._has_opened and self.path.exists() and self.path.stat().st_size > 0:
            self._shift_backups()  # an earlier run's file
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        self._has_opened = True

    def _rotate(self) -> None:
        self.close()
        self._shift_backups()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = 0

    def _shift_backups(self) -> None:
        """``x.log`` → ``x.log.1`` → ... → ``x.log.<backups>`` (the oldest is replaced)."""
        for index in range(self._backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{index + 1}"))
        if self._backups > 0:
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()

    def close(self) -> None:
        """Close the file (a later write reopens it, appending)."""
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
