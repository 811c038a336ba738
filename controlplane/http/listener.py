"""The HTTP port, reserved with the standard library first, and what the app's processes are told.

The app's processes must know the port when they load the app (``lightning_app.core.constants.APP_SERVER_PORT``
is read at import, also by the local agent's fork server, which preloads the app), and loading aiohttp takes
~0.15 s: so ``lightning-ctl run`` binds the socket first (7501, else the next free one, else any; or exactly
``--http-port``), before it starts the local agent, and the server starts serving on it once the app runs.
Connections that come in between wait in the backlog.
"""

from __future__ import annotations

import socket

from lightning_ctl.controlplane.errors import HttpPortInUseError
from lightning_ctl.controlplane.options import RunOptions
from lightning_ctl.sdk._app_server import server_env

DEFAULT_PORT = 7501
PORTS_TRIED = 100
"""With no --http-port: 7501, else the next free one of this many, else any free port."""
_BACKLOG = 256
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def reserve(host: str, port: int | None) -> socket.socket:
    """A listening socket on ``host`` at ``port`` (None: 7501 or the next free port; 0: any free port).

    Raises:
        HttpPortInUseError: the port asked for (or every port tried) is taken.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    candidates = [port] if port is not None else [*range(DEFAULT_PORT, DEFAULT_PORT + PORTS_TRIED), 0]
    for candidate in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
            # With SO_REUSEADDR two sockets may bind one port while neither listens: the loser learns it here.
            sock.listen(_BACKLOG)
        except OSError as exc:
            sock.close()
            if port is not None:
                raise HttpPortInUseError(f"cannot serve HTTP on {host}:{candidate}: {exc.strerror or exc} "
                                         "(choose another --http-port, or --no-http)") from None
            continue
        sock.setblocking(False)
        return sock
    raise HttpPortInUseError(f"cannot serve HTTP on {host}: no free port")


def local_url(scheme: str, host: str, port: int) -> str:
    """The server's base URL for a client on this machine (``http://127.0.0.1:7501``)."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}"


def reserve_port(options: RunOptions) -> socket.socket | None:
    """The HTTP server's listening socket, bound now (stdlib only); None with ``--no-http``.

    Raises:
        HttpPortInUseError: the port asked for (or every port tried) is taken.
    """
    return reserve(options.host, options.http_port) if options.http else None


def http_url(options: RunOptions, sock: socket.socket | None) -> str:
    """The server's URL for clients on this machine (for the run file); "" without HTTP."""
    return local_url("https" if options.tls else "http", options.host, sock.getsockname()[1]) if sock else ""


def server_address_env(options: RunOptions, sock: socket.socket | None) -> dict[str, str]:
    """The address of the app's server, for every process of the app.

    Flows, agents' fork servers, works and frontends get it; it is not a credential (the works' key travels in
    their launches).
    """
    if sock is None:
        return {}
    host = options.host
    if host in _WILDCARD_HOSTS:
        host = socket.gethostname()
    host = f"[{host}]" if ":" in host else host
    scheme = "https" if options.tls else "http"
    return server_env(f"{scheme}://{host}", sock.getsockname()[1])
