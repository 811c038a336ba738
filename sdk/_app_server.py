"""Where the app's HTTP server is, and the credential the app's own processes present to it.

The control plane puts these in the environment of every work process and frontend it starts:

    LIGHTNING_APP_STATE_URL         scheme and host of the app's HTTP server (the former APP_SERVER_HOST)
    APP_SERVER_PORT                 its port (the former lightning_app.core.constants.APP_SERVER_PORT)
    LIGHTNING_CTL_HTTP_CREDENTIAL   "work:<key>", a key the control plane's credential store minted for the app's
                                    works, accepted as HTTP basic auth, only on the app's REST API (never on gRPC).
                                    A work gets it from its launch, in its own process only (never in its agent's
                                    environment); a frontend from the control plane that starts it.

:func:`install_netrc` writes that credential to a NETRC file (owner-only) and points ``NETRC`` at it, so that
ordinary HTTP clients (``requests``, ``curl --netrc``) authenticate to the app by themselves, and only to it.
"""

from __future__ import annotations

import os

from lightning_ctl.sdk._cli_values import API_CREDENTIAL_VARIABLE, CREDENTIAL_VARIABLES

STATE_URL_VAR = "LIGHTNING_APP_STATE_URL"
PORT_VAR = "APP_SERVER_PORT"
CREDENTIAL_VAR = API_CREDENTIAL_VARIABLE
DEFAULT_HOST = "http://127.0.0.1"
DEFAULT_PORT = 7501
_LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def app_server_host() -> str:
    """Scheme and host of the app's HTTP server, e.g. ``http://127.0.0.1``."""
    return os.environ.get(STATE_URL_VAR, DEFAULT_HOST).rstrip("/")


def app_server_port() -> int:
    """The app's HTTP port (7501 when not told)."""
    try:
        return int(os.environ.get(PORT_VAR, DEFAULT_PORT))
    except ValueError:
        return DEFAULT_PORT


def app_server_url() -> str:
    """The app's HTTP server as ``scheme://host:port``."""
    return f"{app_server_host()}:{app_server_port()}"


def server_env(host_url: str, port: int) -> dict[str, str]:
    """The environment variables that tell a process of the app where the server is.

    ``host_url`` (such as ``http://127.0.0.1``) and ``port``.
    """
    return {STATE_URL_VAR: host_url, PORT_VAR: str(port)}


def app_process_environ() -> dict[str, str]:
    """This process's environment for a process of the app it starts (a frontend's server).

    The app's own API credential stays, every other credential (the operator's token, a join token) is left
    out.
    """
    return {k: v for k, v in os.environ.items() if k == CREDENTIAL_VAR or k not in CREDENTIAL_VARIABLES}


def auth_headers() -> dict[str, str]:
    """The Authorization header carrying this process's credential; empty when it has none."""
    import base64  # here and below: importing the SDK stays light

    credential = os.environ.get(CREDENTIAL_VAR, "")
    if not credential:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(credential.encode()).decode()}


def install_netrc() -> str | None:
    """Write this process's credential to an owner-only NETRC file for the app's host and set ``NETRC``.

    The file is named by a hash of its content, so the works of one app share it and nothing piles up. Returns its
    path, or None when the process has no credential.
    """
    import hashlib
    import tempfile
    from urllib.parse import urlsplit

    credential = os.environ.get(CREDENTIAL_VAR, "")
    host = urlsplit(app_server_host()).hostname
    if not credential or not host or ":" not in credential:
        return None
    login, _, password = credential.partition(":")
    hosts = _LOOPBACK_NAMES if host in _LOOPBACK_NAMES else (host,)
    text = "".join(f"machine {name} login {login} password {password}\n" for name in hosts)
    folder = os.path.join(tempfile.gettempdir(), f"lightning-ctl-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    info = os.lstat(folder)
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None  # not ours alone (made by someone else): never write a secret there
    path = os.path.join(folder, "netrc-" + hashlib.sha256(text.encode()).hexdigest()[:16])
    if not os.path.exists(path):
        fd, partial = tempfile.mkstemp(dir=folder, prefix=".netrc-")
        with os.fdopen(fd, "w") as file:  # mkstemp makes it 0600
            file.write(text)
        os.replace(partial, path)
    os.environ["NETRC"] = path
    return path
