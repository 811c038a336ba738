"""AppState: a running app's state, read and written over its REST API (for frontends, notebooks, scripts).

``AppState()`` reads ``GET /api/v1/state`` on first access; ``state.counter`` is a value of the root flow,
``state.child.counter`` one of a child flow or work; assigning ``state.counter = 3`` sends the change to
``POST /api/v1/delta``, which the flows see on their next run. Inside the app's processes the server's address and
credential come from the environment the control plane set; elsewhere pass ``host``, ``port`` and ``token``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from lightning_ctl.sdk._app_server import app_server_host, app_server_port, auth_headers
from lightning_ctl.sdk._state_delta import diff, to_deepdiff
from lightning_ctl.sdk.errors import AppStateError

_TIMEOUT_S = 10.0
_KINDS = ("flows", "works", "structures")


class _Shared:
    """What every scoped view of one AppState shares: the server, and the state as read and as changed."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers
        self.read: dict[str, Any] | None = None
        self.current: dict[str, Any] | None = None

    def request(self, method: str, path: str, body: Any = None) -> Any:
        import urllib.error
        import urllib.request  # here: importing the SDK stays light

        data = json.dumps(body).encode() if body is not None else None
        headers = {**self.headers, **({"Content-Type": "application/json"} if data is not None else {})}
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise AppStateError(f"{method} {self.url}{path} answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise AppStateError(f"cannot reach the app at {self.url} ({exc}): is it running?") from None

    def load(self) -> dict[str, Any]:
        """The current state, read from the app on first use."""
        if self.current is None:
            self.read = self.request("GET", "/api/v1/state")
            self.current = copy.deepcopy(self.read)
        return self.current

    def send(self) -> None:
        changes = list(diff(self.read, self.current))
        if changes:
            self.request("POST", "/api/v1/delta", {"delta": to_deepdiff(changes)})
            self.read = copy.deepcopy(self.current)


class AppState:
    """The state of a running app, or of one of its flows or works (``state.child``).

    Args:
        host: Scheme and host of the app's server (default: from the environment, else ``http://127.0.0.1``).
        port: Its port (default: from the environment, else 7501).
        last_state: Kept for compatibility; ignored.
        state: Kept for compatibility; ignored.
        my_affiliation: The names leading from the root flow to the component this view shows, e.g. ``("child",)``.
        plugin: Kept for compatibility; ignored.
        token: The operator's token, for clients outside the app (inside it, its own credential is used).
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        last_state: dict[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        my_affiliation: tuple[str, ...] | None = None,
        plugin: Any = None,
        token: str | None = None,
    ) -> None:
        url = f"{(host or app_server_host()).rstrip('/')}:{port or app_server_port()}"
        headers = {"Authorization": f"Bearer {token}"} if token else auth_headers()
        object.__setattr__(self, "_shared", _Shared(url, headers))
        object.__setattr__(self, "_path", tuple(my_affiliation or ()))

    def _scope(self) -> dict[str, Any]:
        """This view's part of the current state (read on first use)."""
        shared: _Shared = self._shared
        node = shared.load()
        for name in self._path:
            child = next((node[kind][name] for kind in _KINDS if name in node.get(kind, {})), None)
            if child is None:
                raise AppStateError(f"the app has no component {'.'.join(('root', *self._path))}")
            node = child
        return node

    def _child(self, name: str) -> AppState:
        child = object.__new__(AppState)
        object.__setattr__(child, "_shared", self._shared)
        object.__setattr__(child, "_path", (*self._path, name))
        return child

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        scope = self._scope()
        if name in scope.get("vars", {}):
            return scope["vars"][name]
        if any(name in scope.get(kind, {}) for kind in _KINDS):
            return self._child(name)
        raise AppStateError(self._missing(name, scope))

    def __getitem__(self, key: str) -> Any:
        return self.__getattr__(key)

    def __setattr__(self, name: str, value: Any) -> None:
        scope = self._scope()
        if name not in scope.get("vars", {}):
            if any(name in scope.get(kind, {}) for kind in _KINDS):
                raise AppStateError(f"{name} is a component: set its attributes instead")
            raise AppStateError(self._missing(name, scope))
        scope["vars"][name] = json.loads(json.dumps(value))
        self._shared.send()

    def _missing(self, name: str, scope: dict[str, Any]) -> str:
        where = ".".join(("root", *self._path))
        components = [n for kind in _KINDS for n in scope.get(kind, {})]
        return (f"{where} has no attribute {name!r} in the app's state: its attributes are "
                f"{sorted(scope.get('vars', {}))}, its components {sorted(components)}")

    def _request_state(self) -> None:
        """Read the state again from the server (what the former framework called on each refresh)."""
        shared: _Shared = self._shared
        shared.current = None
        shared.load()

    def items(self) -> list[tuple[str, AppState]]:
        """``(name, view)`` for each child component."""
        scope = self._scope()
        return [(name, self._child(name)) for kind in _KINDS for name in scope.get(kind, {})]

    def __len__(self) -> int:
        return len(self.items())

    def __bool__(self) -> bool:
        return bool(self._scope())

    def __repr__(self) -> str:
        return repr(self._scope())
