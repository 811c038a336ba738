"""Bounds on connections before they register, and on the file descriptors connections use.

The gRPC server's own bounds (handshake and idle timeouts, a connection quota below the open-files limit, no
shared port) are server options, in ``protos.transport``. Here:

- an agent stream must register within ``REGISTER_TIMEOUT_S`` (the agent service enforces it);
- :class:`DescriptorWatch` says once, with advice, when descriptors run low anyway (gRPC core's own line about
  it, every second, is kept off the console: ``sdk._logging.quiet_grpc_core``).
"""

from __future__ import annotations

import errno
import os
import resource
from typing import Callable

REGISTER_TIMEOUT_S = 5.0
_LOW_FRACTION = 0.9


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
    """Says once when open descriptors near the limit.

    A process's descriptors running out is one lesson: the advice does not change.
    """

    def __init__(self, warn: Callable[[int, int], None]) -> None:
        """Create a watch.

        Args:
            warn: Called with (open descriptors, limit) the first time they run low.
        """
        self._warn = warn
        self._warned = False

    def check(self, open_count: int | None = None, limit: int | None = None) -> bool:
        """Compare ``open_count`` with ``limit``; whether it warned now.

        By default this process's open descriptors and its soft limit.
        """
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
