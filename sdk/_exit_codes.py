"""The exit statuses of both CLIs (``lightning-ctl`` and ``lightning-agent``), defined once."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a command's exit status means."""

    OK = 0
    FAILED = 1
    """The app, a work or the operation failed (or the app could not be loaded)."""
    USAGE = 2
    """A usage error (click's own status), or a request the control plane called invalid."""
    UNREACHABLE = 3
    """The control plane (or the app running here) cannot be reached."""
    AUTH_REFUSED = 4
    """The token or credential was refused."""
    INTERRUPTED = 130
    """Ctrl-C, after a clean stop."""
    TERMINATED = 143
    """SIGTERM, after a clean stop."""
