"""Who may use the app's HTTP server, checked on every request before any route runs.

Three ways in, two scopes; credentials are checked by the control plane's credential store (its roles), never
here:

    Authorization: Bearer <operator token>        operator: everything
    cookie lightning_ctl_session_<port>            operator: set by a one-time login link (/view?token=<code>)
    Basic work:<works' key> (a NETRC file)         work: the REST API and the app's routes and commands only; the
                                                   key is a scoped key with the ``api`` permission (the store's
                                                   Role.SCOPED), minted for the app's works
    (Bearer <works' key> is the same)

An agent credential or a join token opens nothing here.

Before that, the Host header must name this server (an IP literal, a loopback name, this machine's name, or the
host it listens on): a page on another site that rebinds its DNS name to 127.0.0.1 gets nothing. A request that
changes something (any method but GET/HEAD/OPTIONS, and every WebSocket) with an Origin header must come from this
server's own origin.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
import time
from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

from lightning_ctl.controlplane.credential_store import CredentialStore, Role
from lightning_ctl.controlplane.errors import CredentialRefusedError

LOGIN_CODE_TTL_S = 24 * 3600.0
"""How long a login link stays valid when nobody uses it."""
SESSION_TTL_S = 7 * 24 * 3600.0
WORK_LOGIN = "work"
API_PERMISSION = "api"
"""What a scoped key must allow to open the app's REST API (the key of the app's works)."""
WORKS_KEY_SUBJECT = "app-works"
"""Who holds the works' key, as the credential store names it."""
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_MAX_SESSIONS = 1000
_WORK_DENIED = ("/api/v1/stop", "/api/v1/login-links")


class Scope(Enum):
    """What an authenticated client may do."""

    OPERATOR = "operator"
    """Everything: the view, the API, stopping the app, minting login links."""
    WORK = "work"
    """The app's own processes: the REST API, the app's routes and commands (not stop, not the view)."""


def work_credential(key: str) -> str:
    """``login:password`` for HTTP basic auth with the works' ``key`` (what goes into their NETRC file)."""
    return f"{WORK_LOGIN}:{key}"


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: its HTTP status and a message naming what is wrong."""

    status: int
    message: str


class Authenticator:
    """Checks hosts, origins and credentials; mints and redeems login links; keeps browser sessions."""

    def __init__(self, credentials: CredentialStore, listen_host: str, port: int,
                 allowed_hosts: tuple[str, ...] = ()) -> None:
        self._credentials = credentials
        self.port = port
        self.cookie_name = f"lightning_ctl_session_{port}"
        self._login_codes: dict[str, float] = {}
        self._sessions: dict[str, float] = {}
        names = {*_LOOPBACK_NAMES, *(h.lower() for h in allowed_hosts)}
        if listen_host not in ("", "0.0.0.0", "::"):
            names.add(listen_host.lower())
        else:
            names.update({socket.gethostname().lower(), socket.getfqdn().lower()})
        self._host_names = frozenset(names)

    # -- login links and sessions ---------------------------------------------------------------------------------

    def mint_login_code(self) -> str:
        """A new one-time login code (for ``/view?token=<code>``), valid until used or LOGIN_CODE_TTL_S."""
        self._expire()
        code = secrets.token_urlsafe(24)
        self._login_codes[code] = time.monotonic() + LOGIN_CODE_TTL_S
        return code

    def redeem_login_code(self, code: str) -> str | None:
        """A new session id for a valid unused ``code`` (which is used up), else None."""
        self._expire()
        if self._login_codes.pop(code, None) is None:
            return None
        if len(self._sessions) >= _MAX_SESSIONS:
            self._sessions.pop(next(iter(self._sessions)))
        session = secrets.token_urlsafe(32)
        self._sessions[session] = time.monotonic() + SESSION_TTL_S
        return session

    def _expire(self) -> None:
        now = time.monotonic()
        for table in (self._login_codes, self._sessions):
            for key in [k for k, expires in table.items() if expires < now]:
                del table[key]

    # -- checks ---------------------------------------------------------------------------------------------------

    def check_host(self, host_header: str) -> Refusal | None:
        """Refuse a Host this server does not answer to (DNS rebinding)."""
        host = _host_only(host_header)
        if not host:
            return Refusal(400, "the request has no Host header")
        if host in self._host_names or _is_ip_literal(host):
            return None
        return Refusal(
            421, f"this server does not answer to Host {host_header!r} (use an IP address, localhost, or "
            f"one of {sorted(self._host_names)}; --http-allowed-host adds more)"
        )

    def check_origin(self, method: str, is_websocket: bool, origin: str | None, host_header: str,
                     scheme: str) -> Refusal | None:
        """Refuse a cross-site write: a changing request (or a WebSocket) from a page of another origin."""
        if origin is None or (method in _SAFE_METHODS and not is_websocket):
            return None
        if origin == f"{scheme}://{host_header}":
            return None
        return Refusal(403, f"cross-origin request refused: Origin {origin!r} is not this server")

    def identify(self, authorization: str | None, cookie: str | None) -> Scope | None:
        """The scope the request's credentials grant, or None."""
        if authorization:
            kind, _, value = authorization.partition(" ")
            kind = kind.lower()
            if kind == "bearer":
                return self._scope_of(value.strip())
            if kind == "basic":
                try:
                    login, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    return None
                scope = self._scope_of(password)
                return scope if scope is Scope.OPERATOR or login == WORK_LOGIN else None
            return None
        if cookie:
            expires = self._sessions.get(cookie)
            if expires is not None and expires >= time.monotonic():
                return Scope.OPERATOR
        return None

    def _scope_of(self, secret: str) -> Scope | None:
        """The scope the store's role for ``secret`` grants here.

        The operator's token everything, a key with the ``api`` permission the work scope, anything else (an
        agent credential, a join token) nothing.
        """
        try:
            principal = self._credentials.authenticate(secret)
        except CredentialRefusedError:
            return None
        if principal.role is Role.OPERATOR:
            return Scope.OPERATOR
        if principal.role is Role.SCOPED and API_PERMISSION in principal.permissions:
            return Scope.WORK
        return None

    @staticmethod
    def allows(scope: Scope, path: str) -> bool:
        """Whether ``scope`` may use ``path``."""
        if scope is Scope.OPERATOR:
            return True
        if any(path == denied or path.startswith(denied + "/") for denied in _WORK_DENIED):
            return False
        return path.startswith(("/api/", "/command/")) or path in ("/healthz", "/openapi.json")


def _host_only(host_header: str) -> str:
    """``127.0.0.1:7501`` as ``127.0.0.1``; ``[::1]:7501`` as ``::1``."""
    return (urlsplit(f"//{host_header}").hostname or "").lower() if host_header else ""


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False
