"""What a run owns alone, claimed before anything starts: its app file (one run at a time) and its port.

``lightning-ctl run`` takes both before it starts its local agent, loads the app or opens its checkpoint, so a
refused run touches nothing of the run that owns them:

    app lock (flock on <app home>/run.lock) ─► port free? ─► local agent, checkpoint, app, listener ...

The lock is the kernel's: two runs started at the same instant cannot both take it, and a run killed with SIGKILL
leaves no stale lock behind.
"""

from __future__ import annotations

import errno
import socket

from lightning_ctl.controlplane.errors import AppAlreadyRunningError, PortInUseError
from lightning_ctl.controlplane.home import app_home
from lightning_ctl.sdk._files import FileLock, LockHeld


def lock_app(app_path: str) -> FileLock:
    """Claim ``app_path`` for this run (held until this process ends).

    Raises:
        AppAlreadyRunningError: another run of the same app file holds it.
    """
    try:
        return FileLock(app_home(app_path) / "run.lock")
    except LockHeld as held:
        by = f" (lightning-ctl pid {held.holder_pid})" if held.holder_pid else ""
        raise AppAlreadyRunningError(
            f"{app_path} is already running{by}; stop it with lightning-ctl stop, or wait for it to end"
        ) from None


def ensure_port_free(host: str, port: int) -> None:
    """Fail now if ``host:port`` cannot be listened on (another program listens there); port 0 always can.

    A probe, not a reservation: the server's own bind (without SO_REUSEPORT) still fails if the port is taken in
    between, with the same error.

    Raises:
        PortInUseError: naming the port.
    """
    if port == 0:
        return
    try:
        addresses = socket.getaddrinfo(host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortInUseError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is fine
            try:
                probe.bind(address)
            except OSError as exc:
                raise port_error(host, port, exc) from None


def port_error(host: str, port: int, exc: OSError | None = None) -> PortInUseError:
    """The error for a port that could not be bound (``exc``: the reason, when known)."""
    if exc is None or exc.errno == errno.EADDRINUSE:
        return PortInUseError(f"port {port} is in use (another app or program listens on it); pick another --port")
    return PortInUseError(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
