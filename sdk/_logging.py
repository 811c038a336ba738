"""structlog configuration shared by both daemons (lightning-ctl and lightning-agent); never imported by `import sdk`."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

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
        logger_factory=structlog.PrintLoggerFactory(file=_QuietOnClose(sys.stderr)),
        cache_logger_on_first_use=True,
    )


class _QuietOnClose:
    """stderr that stops writing once it is closed (``lightning-ctl run ... 2>&1 | head``) instead of raising
    BrokenPipeError into the daemon's own code paths."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._closed = False

    def write(self, text: str) -> int:
        if self._closed:
            return len(text)
        try:
            return self._stream.write(text)
        except (BrokenPipeError, ValueError):
            self._closed = True
            return len(text)

    def flush(self) -> None:
        if not self._closed:
            try:
                self._stream.flush()
            except (BrokenPipeError, ValueError):
                self._closed = True
