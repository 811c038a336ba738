"""Bounds on connections before they authenticate, and on the file descriptors connections use.

Authentication happens per call (the token in each call's metadata, checked by the interceptor before any
handler runs), so a connection that never makes an authenticated call costs only its socket. These bound that
cost:

- a connection must finish its HTTP/2 (and TLS) handshake within ``HANDSHAKE_TIMEOUT_MS``;
- a connection with no call in flight is closed after ``IDLE_TIMEOUT_MS`` (clients reconnect transparently);
- an agent stream must register within ``REGISTER_TIMEOUT_S`` (the agent service enforces it);
- connections beyond what the open-files limit leaves room for are refused at once, so accepting never runs the
  process out of descriptors (gRPC would otherwise retry its accept every second, stalling every new caller);
- :class:`DescriptorWatch` says once, with advice, when descriptors run low anyway (gRPC core's own line about
  it, every second, is kept off the console: ``sdk._logging.quiet_grpc_core``).
"""

from __future__ import annotations

import errno
import os
import resource
from typing import Callable

HANDSHAKE_TIMEOUT_MS = 3_000
IDLE_TIMEOUT_MS = 10_000
REGISTER_TIMEOUT_S = 5.0
RESERVED_DESCRIPTORS = 256
"""Left for everything but connections: log and checkpoint files, bundles, pipes, gRPC's own."""
_MAX_CONNECTIONS = 1 << 20
"""At most this many connections, however high the open-files limit (the option is a C int)."""
_LOW_FRACTION = 0.9


def connection_options(open_files_limit: int) -> list[tuple[str, int]]:
    """gRPC server options bounding connections (see the module docstring)."""
    if open_files_limit == resource.RLIM_INFINITY or open_files_limit <= 0:
        open_files_limit = _MAX_CONNECTIONS
    return [
        ("grpc.server_handshake_timeout_ms", HANDSHAKE_TIMEOUT_MS),
        ("grpc.max_connection_idle_ms", IDLE_TIMEOUT_MS),
        ("grpc.max_allowed_incoming_connections",
         max(16, min(_MAX_CONNECTIONS, open_files_limit) - RESERVED_DESCRIPTORS)),
    ]


def open_descriptors() -> int | None:
    """How many file descriptors this process has open (None: none is left even to count them)."""
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # the listing's own descriptor
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            return None
    import psutil

    try:
        return psutil.Process().num_fds()
    except (psutil.Error, OSError):
        return None


class DescriptorWatch:
    """Says once (a process's descriptors running out is one lesson: the advice does not change) when open
    descriptors near the limit."""

    def __init__(self, warn: Callable[[int, int], None]) -> None:
        """Create a watch.

        Args:
            warn: Called with (open descriptors, limit) the first time they run low.
        """
        self._warn = warn
        self._warned = False

    def check(self, open_count: int | None = None, limit: int | None = None) -> bool:
        """Compare ``open_count`` (default: this process's) with ``limit`` (default: its soft limit); whether it
        warned now."""
        if self._warned:
            return False
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0] if limit is None else limit
        if limit == resource.RLIM_INFINITY:
            return False
        if open_count is None:
            open_count = open_descriptors()
            if open_count is None:  # not even one left to count them
                open_count = limit
        if open_count < _LOW_FRACTION * limit:
            return False
        self._warned = True
        self._warn(open_count, limit)
        return True
