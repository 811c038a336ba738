"""Routes of the app's REST API served by flow methods: ``configure_api`` returns ``Post``/``Get``/``Put``/``Delete``.

The control plane serves each route; a request runs the flow's method on the flow thread between two runs of the
flows (so the method may change the state), and its return value becomes the JSON response. Parameters annotated
with a pydantic model are read from the JSON body, plain typed parameters from the query string, and a parameter
annotated ``Request`` (ours, FastAPI's or Starlette's) receives an :class:`ApiRequest`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

if TYPE_CHECKING:
    import inspect

_RESERVED_PREFIXES = ("/command", "/view", "/works", "/ui", "/healthz", "/openapi.json", "/docs")
DEFAULT_TIMEOUT_S = 30.0


class HTTPException(Exception):  # noqa: N818 - the name FastAPI apps know
    """Raise it from a handler to answer with ``status_code`` and ``detail`` (FastAPI's HTTPException works too).

    Args:
        status_code: The HTTP status, e.g. 404.
        detail: What the client reads in ``{"detail": ...}``.
    """

    def __init__(self, status_code: int, detail: Any = None) -> None:
        super().__init__(status_code, detail)
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True)
class ApiRequest:
    """What a handler parameter annotated ``Request`` receives: the request's method, headers and body."""

    method: str
    headers: dict[str, str] = field(default_factory=dict)
    _body: bytes = b""
    query: dict[str, str] = field(default_factory=dict)
    url: str = ""

    def body(self) -> bytes:
        """The raw body."""
        return self._body

    def json(self) -> Any:
        """The body parsed as JSON (None when empty)."""
        return json.loads(self._body) if self._body else None


class _HttpMethod:
    """A route of the app's REST API, served by a flow method (or a plain function).

    Args:
        route: The path, e.g. ``"/api/v1/items"``; ``{name}`` segments become path parameters.
        method: The handler: a method of a flow of the app, or a function.
        method_name: Its name in the API documentation (default: the function's name).
        timeout: Seconds a request waits for the handler before answering 504.
        **kwargs: Route options; ``summary``, ``description``, ``tags`` and ``status_code`` are honoured.

    Raises:
        ValueError: the route is not a path, or is one the control plane keeps for itself.
        TypeError: ``method`` is not callable.
    """

    http_method: ClassVar[str] = ""

    def __init__(
        self, route: str, method: Callable[..., Any], method_name: str | None = None, timeout: float = DEFAULT_TIMEOUT_S,
        **kwargs: Any,
    ) -> None:
        if not isinstance(route, str) or not route.startswith("/"):
            raise ValueError(f"{type(self).__name__}(route={route!r}): a route is a path starting with '/'")
        if any(route == p or route.startswith(p + "/") for p in _RESERVED_PREFIXES):
            raise ValueError(
                f"{type(self).__name__}(route={route!r}): the control plane keeps {route.split('/')[1]!r} routes for "
                "itself (commands go in configure_commands)"
            )
        if not callable(method):
            raise TypeError(f"{type(self).__name__}({route!r}, ...): the handler must be callable, got {method!r}")
        if not timeout or timeout <= 0:
            raise ValueError(f"{type(self).__name__}({route!r}, timeout={timeout!r}): the timeout must be positive")
        self.route = route
        self.method = method
        self.method_name: str = method_name or str(getattr(method, "__name__", "handler"))
        self.timeout = float(timeout)
        self.kwargs = kwargs

    @property
    def signature(self) -> inspect.Signature:
        """The handler's signature (its parameters become the request's)."""
        import inspect  # here: importing the SDK stays light

        return inspect.signature(self.method)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.route!r}, {self.method_name})"


class Post(_HttpMethod):
    """A POST route of the app's API (see :class:`_HttpMethod`)."""

    http_method = "POST"


class Get(_HttpMethod):
    """A GET route of the app's API (see :class:`_HttpMethod`)."""

    http_method = "GET"


class Put(_HttpMethod):
    """A PUT route of the app's API (see :class:`_HttpMethod`)."""

    http_method = "PUT"


class Delete(_HttpMethod):
    """A DELETE route of the app's API (see :class:`_HttpMethod`)."""

    http_method = "DELETE"
