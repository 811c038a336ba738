"""OutputDeduplicator: each line a work printed is shown once, even when an agent sends it again.

Lines carry their byte range in the work's capture file; after an agent restart or a reconnection the agent may
send again lines the control plane already has, and they are recognised by their offsets.
"""

from __future__ import annotations

import dataclasses

from lightning_ctl.sdk._events import LinesLogged


class OutputDeduplicator:
    """Remembers, per (work, attempt, stream), how far its output has been shown."""

    def __init__(self) -> None:
        self._shown: dict[tuple[str, int, str], int] = {}
        self._written: dict[tuple[str, int, str], int] = {}

    def written(self, work_name: str, attempt: int, stream: str, end_offset: int) -> None:
        """The console wrote the output of (work_name, attempt, stream) up to ``end_offset`` (any thread)."""
        key = (work_name, attempt, stream)
        if end_offset > self._written.get(key, 0):
            self._written[key] = end_offset

    def shown(self, work_name: str, attempt: int) -> tuple[int, int]:
        """How far the stdout and stderr of (work_name, attempt) have really been written, in bytes."""
        written = self._written
        return written.get((work_name, attempt, "stdout"), 0), written.get((work_name, attempt, "stderr"), 0)

    def is_behind(self, work_name: str, attempt: int) -> bool:
        """Whether output of (work_name, attempt) was taken to be shown and is not written yet."""
        return any(self._written.get((work_name, attempt, stream), 0) < self._shown.get((work_name, attempt, stream), 0)
                   for stream in ("stdout", "stderr"))

    def fresh(self, work_name: str, attempt: int, logged: LinesLogged) -> LinesLogged | None:
        """The part of ``logged`` not shown yet (None when all of it was)."""
        key = (work_name, attempt, logged.stream)
        shown = self._shown.get(key, 0)
        if logged.end_offset <= shown:
            self.written(work_name, attempt, logged.stream, logged.end_offset)  # a resend of what is on screen
            return None
        self._shown[key] = logged.end_offset
        if logged.offset >= shown:
            return logged
        # Overlapping batch: lines are not split, so skip whole lines by their encoded length.
        lines = list(logged.lines)
        position = logged.offset
        while lines and position < shown:
            position += len(lines.pop(0).encode("utf-8", errors="replace")) + 1
        return dataclasses.replace(logged, lines=tuple(lines), offset=position) if lines else None
