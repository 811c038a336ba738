"""structlog configuration shared by both daemons (lightning-ctl and lightning-agent); never imported by `import sdk`."""

from __future__ import annotations

import logging
import os
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, TextIO, cast

import structlog


def configure_logging(fmt: str = "console", level: str = "info") -> None:
    """Configure structlog for this process: console lines on stderr, or JSON with ``fmt="json"``."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *([structlog.processors.dict_tracebacks] if fmt == "json" else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        # A file-like wrapper, not a TextIO: PrintLogger only writes and flushes.
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _quiet(sys.stderr))),
        cache_logger_on_first_use=True,
    )


def _quiet(stream: TextIO) -> _QuietOnClose:
    """``stream`` wrapped in a :class:`_QuietOnClose` (once: a wrapped stream is returned as it is)."""
    return stream if isinstance(stream, _QuietOnClose) else _QuietOnClose(stream)


class _QuietOnClose:
    """A standard stream that writes whole lines and stops writing once its reader is gone.

    Whole lines: ``print`` writes its text and its newline in two calls, and the control plane prints from several
    threads (a flow's ``print``, the console writing works' lines, logs): each thread's text is held until its
    line ends (or a flush), then written with the line's end under one lock, so lines never interleave.

    Reader gone (``lightning-ctl run ... | head``): the first ``BrokenPipeError`` points the stream's file
    descriptor at ``/dev/null`` (so that nothing, including the interpreter's last flush at exit, fails on it
    again) and the write is dropped. A daemon whose console reader went away keeps running the app; its output
    still reaches ``lightning-ctl logs`` and the agents' files.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._closed = False
        self._lock = threading.Lock()
        self._partial: dict[int, str] = {}
        """Text of each thread (by id) whose line has not ended yet."""

    def write(self, text: str) -> int:
        if self._closed:
            return len(text)
        thread = threading.get_ident()
        with self._lock:
            pending = self._partial.pop(thread, "") + text
            cut = pending.rfind("\n") + 1
            if cut < len(pending):
                self._partial[thread] = pending[cut:]
            if cut:
                self._write(pending[:cut])
        return len(text)

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
        except (BrokenPipeError, ValueError):
            self._silence()

    def flush(self) -> None:
        if self._closed:
            return
        with self._lock:
            pending = "".join(self._partial.values())
            self._partial.clear()
            if pending:
                self._write(pending)
        if self._closed:
            return
        try:
            self._stream.flush()
        except (BrokenPipeError, ValueError):
            self._silence()

    def _silence(self) -> None:
        self._closed = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def protect_standard_streams() -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` drop output once their reader is gone.

    Otherwise BrokenPipeError is raised into whatever code printed (a flow's ``print``, the console thread, a
    log call).
    """
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _QuietOnClose):
            setattr(sys, name, _QuietOnClose(stream))


@contextmanager
def quiet_grpc_core(level: str) -> Iterator[None]:
    """Import gRPC inside this block to keep its core's own log lines off the console.

    Those are a retried accept every second, a refused handshake; they show with ``--log-level debug``, and
    our own logs say what matters.

    gRPC reads ``GRPC_VERBOSITY`` once, as it loads; the variable is set only meanwhile (unless the user set it),
    so that work processes never inherit it.
    """
    if "GRPC_VERBOSITY" in os.environ:
        yield
        return
    os.environ["GRPC_VERBOSITY"] = "ERROR" if level == "debug" else "NONE"
    try:
        yield
    finally:
        os.environ.pop("GRPC_VERBOSITY", None)
