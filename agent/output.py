"""OutputTail: relays a work's capture file line by line, with byte offsets, without ever blocking the work.

The work writes its stdout or stderr straight into a file (appending); this reads it as it grows, so a work never
waits on the agent, and output written while the agent was down is read when a new agent resumes from the last
offset. Undecodable bytes are replaced, very long lines are cut with a marker, and each batch carries its byte range
so the control plane drops what it already has.
"""

from __future__ import annotations

import asyncio
import os
from typing import Callable

from lightning_ctl.sdk._events import LinesLogged

MAX_LINE_BYTES = 16 * 1024
LINE_CUT_MARKER = " …[line cut]"
_READ_CHUNK = 256 * 1024
_POLL_FAST_S = 0.01
_POLL_SLOW_S = 0.2
_MAX_LINES_PER_BATCH = 2000
_MAX_BATCH_BYTES = 256 * 1024


class OutputTail:
    """Follows one capture file from ``offset``; ``emit`` gets each batch of complete lines."""

    def __init__(self, path: str, stream: str, emit: Callable[[LinesLogged], None], offset: int = 0,
                 backed_up: Callable[[], bool] = lambda: False) -> None:
        self.path = path
        self._backed_up = backed_up
        self.stream = stream
        self.offset = offset
        """Bytes of the file relayed so far (complete lines only)."""
        self._emit = emit
        self._partial = b""
        self._fd: int | None = None

    def _open(self) -> int | None:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return None
        return self._fd

    def rewind(self, offset: int) -> None:
        """Relay again from ``offset`` (what the control plane confirmed): the lines after it may have been lost."""
        if offset < self.offset:
            self.offset = offset
            self._partial = b""

    def read_available(self, final: bool = False) -> bool:
        """Relay every complete line now in the file (and a last partial one when ``final``); whether any was."""
        fd = self._open()
        if fd is None:
            return False
        relayed = False
        while not self._backed_up() and (chunk := os.pread(fd, _READ_CHUNK, self.offset + len(self._partial))):
            relayed |= self._relay(self._partial + chunk, final=False)
        if final and self._partial:
            relayed |= self._relay(self._partial, final=True)
        return relayed

    def _relay(self, data: bytes, final: bool) -> bool:
        *complete, rest = data.split(b"\n")
        raw_lines = [line + b"\n" for line in complete]
        while len(rest) > MAX_LINE_BYTES:  # no newline in sight: cut it rather than buffer without bound
            raw_lines.append(rest[:MAX_LINE_BYTES])
            rest = rest[MAX_LINE_BYTES:]
        if final and rest:
            raw_lines.append(rest)
            rest = b""
        self._partial = rest
        if not raw_lines:
            return False
        batch: list[bytes] = []
        size = 0
        for line in raw_lines:
            batch.append(line)
            size += len(line)
            if len(batch) >= _MAX_LINES_PER_BATCH or size >= _MAX_BATCH_BYTES:
                self._emit_batch(batch, size)
                batch, size = [], 0
        if batch:
            self._emit_batch(batch, size)
        return True

    def _emit_batch(self, batch: list[bytes], size: int) -> None:
        self._emit(LinesLogged(self.stream, tuple(_text(line) for line in batch), self.offset, self.offset + size))
        self.offset += size

    async def follow(self, stop: asyncio.Event) -> None:
        """Relay lines as they are written until ``stop`` is set; then relay what is left, partial line included.

        While the agent's outbox is backed up, reading pauses: the file holds the rest, so a work printing as fast
        as it can never blocks and never grows the agent's memory.
        """
        delay_s = _POLL_FAST_S
        while not stop.is_set():
            if self.read_available():
                delay_s = _POLL_FAST_S
            else:
                delay_s = min(delay_s * 1.5, _POLL_SLOW_S)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay_s)
            except asyncio.TimeoutError:
                pass
        # The final read must not be cut short: wait for room. The outbox is an asyncio.Queue the session drains
        # with no signal of room; this runs once per work exit, and only while the outbox is full.
        while self._backed_up():  # noqa: ASYNC110
            await asyncio.sleep(_POLL_FAST_S)
        self.read_available(final=True)
        self.close()

    def close(self) -> None:
        """Release the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _text(raw: bytes) -> str:
    body = raw[:-1] if raw.endswith(b"\n") else raw
    text = body[:MAX_LINE_BYTES].decode("utf-8", errors="replace").rstrip("\r")
    return text + LINE_CUT_MARKER if len(body) >= MAX_LINE_BYTES else text
