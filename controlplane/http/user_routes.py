"""The app's own routes: ``configure_api()`` (``Post/Get/Put/Delete``) and ``configure_commands()`` (``/command/*``).

Both are read from the root flow once, as the app starts. A request is bound to the handler's signature here, on
the asyncio thread (path parameters, typed query parameters, a pydantic model from the JSON body, an
``ApiRequest``), then the handler runs on the flow thread between two runs of the flows, so it may change the
state; its result is encoded to JSON there. A handler that raises an ``HTTPException`` (ours or FastAPI's)
answers with its status; any other error answers 500 with an id the log names; no answer within the route's
timeout answers 504 naming the route, and the handler then does not run at all if it had not started.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
import re
import types
import typing
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from lightning_ctl.controlplane.errors import AppEndedError, FlowBusyError, RoutesError
from lightning_ctl.controlplane.flows.queries import QueryBox
from lightning_ctl.controlplane.http import errors
from lightning_ctl.sdk._api import ApiRequest, _HttpMethod
from lightning_ctl.sdk._loader import user_traceback

log = structlog.get_logger(component="http_routes")

_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SKIPPED_DIRS = (str(Path(__file__).resolve().parent.parent), str(Path(asyncio.__file__).resolve().parent))
"""Our frames and asyncio's are cut from a handler's traceback in the log."""
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Param:
    """One parameter of a handler and where its value comes from."""

    name: str
    source: str
    """"path", "query", "body" (a model or dict from the JSON body) or "request"."""
    annotation: Any = inspect.Parameter.empty
    default: Any = inspect.Parameter.empty

    @property
    def required(self) -> bool:
        """Whether the request must carry it."""
        return self.default is inspect.Parameter.empty and self.source != "request"


@dataclass(frozen=True)
class UserRoute:
    """A served route of the app."""

    http_method: str
    route: str
    handler: Callable[..., Any]
    name: str
    timeout_s: float
    tag: str
    """"app_api" or "app_command"."""
    params: tuple[Param, ...]
    options: dict[str, Any] = field(default_factory=dict)
    pattern: re.Pattern[str] = re.compile("")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters when this route serves ``method path``, else None."""
        if method != self.http_method:
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


def read_app_routes(app: Any, runtime: Any) -> tuple[list[Any], list[Any]]:
    """What the root flow's ``configure_api()`` and ``configure_commands()`` return (flow thread, once)."""
    root = app.root
    return list(root.configure_api() or []), list(root.configure_commands() or [])


def build_routes(apis: list[Any], commands: list[Any], taken: Callable[[str, str], bool]) -> list[UserRoute]:
    """The routes to serve for what configure_api() and configure_commands() returned.

    Raises:
        RoutesError: an entry is not a Post/Get/Put/Delete (or a command dict of callables), or its route clashes.
    """
    routes: list[UserRoute] = []
    for api in apis:
        if not isinstance(api, _HttpMethod):
            raise RoutesError(f"configure_api() returned {api!r}: each entry must be a Post, Get, Put or Delete")
        routes.append(_route(api.http_method, api.route, api.method, api.method_name, api.timeout, "app_api",
                             api.kwargs))
    for entry in commands:
        if not isinstance(entry, dict):
            raise RoutesError(f"configure_commands() returned {entry!r}: each entry must be a dict {{name: method}}")
        for name, method in entry.items():
            if not callable(method) or inspect.isclass(method):
                raise RoutesError(f"command {name!r}: only flow methods are supported as commands (got {method!r})")
            routes.append(_route("POST", f"/command/{str(name).replace(' ', '_')}", method, str(name), 30.0,
                                 "app_command", {}))
    seen: set[tuple[str, str]] = set()
    for route in routes:
        key = (route.http_method, route.route)
        if key in seen or taken(route.http_method, route.route):
            raise RoutesError(f"{route.http_method} {route.route} is served twice (by the app or by lightning-ctl)")
        seen.add(key)
    return routes


def _route(http_method: str, route: str, handler: Callable[..., Any], name: str, timeout_s: float, tag: str,
           options: dict[str, Any]) -> UserRoute:
    path_names = set(_PATH_PARAM.findall(route))
    params = tuple(_param(name, p, path_names) for name, p in _parameters(handler).items())
    missing = path_names - {p.name for p in params}
    if missing:
        raise RoutesError(f"{http_method} {route}: the handler {name} has no parameter {sorted(missing)[0]!r}")
    regex = "".join(
        f"(?P<{part[1:-1]}>[^/]+)" if _PATH_PARAM.fullmatch(part) else re.escape(part)
        for part in re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", route)
    )
    return UserRoute(http_method, route, handler, name, timeout_s, tag, params, dict(options), re.compile(regex))


def _parameters(handler: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    signature = inspect.signature(handler)
    try:
        hints = typing.get_type_hints(handler)
    except Exception:  # noqa: BLE001 - unresolvable string annotations: keep them as written
        hints = {}
    return {
        name: p.replace(annotation=hints.get(name, p.annotation))
        for name, p in signature.parameters.items()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    }


def _param(name: str, parameter: inspect.Parameter, path_names: set[str]) -> Param:
    annotation = parameter.annotation
    if _is_request_type(annotation):
        source = "request"
    elif name in path_names:
        source = "path"
    elif _is_model(annotation) or typing.get_origin(annotation) in (dict, list) or annotation in (dict, list):
        source = "body"
    else:
        source = "query"
    return Param(name, source, annotation, parameter.default)


def _is_request_type(annotation: Any) -> bool:
    if annotation is ApiRequest:
        return True
    return getattr(annotation, "__name__", "") == "Request" and getattr(annotation, "__module__", "").startswith(
        ("fastapi", "starlette")
    )


def _is_model(annotation: Any) -> bool:
    return inspect.isclass(annotation) and (hasattr(annotation, "model_validate") or hasattr(annotation, "parse_obj"))


class UserRoutes:
    """Serves the app's routes (asyncio thread); handlers run on the flow thread."""

    def __init__(self, queries: QueryBox) -> None:
        self._queries = queries
        self.routes: list[UserRoute] = []

    def find(self, method: str, path: str) -> tuple[UserRoute, dict[str, str]] | None:
        """The route serving ``method path`` and its path parameters."""
        for route in self.routes:
            found = route.match(method, path)
            if found is not None:
                return route, found
        return None

    def allows_path(self, path: str) -> list[str]:
        """The methods of the routes matching ``path`` (for a 405)."""
        return sorted({r.http_method for r in self.routes if r.pattern.fullmatch(path)})

    async def serve(self, route: UserRoute, path_params: dict[str, str], request: web.Request) -> web.Response:
        """Bind the request to the handler, run it on the flow thread, answer with its JSON result."""
        args = await _bind(route, path_params, request)
        call = _flow_call(route, args)
        try:
            if inspect.iscoroutinefunction(route.handler):
                text = _encode(route, await asyncio.wait_for(route.handler(**args), route.timeout_s))
            else:
                text = await self._queries.ask(call, timeout_s=route.timeout_s, changes_state=True)
        except (FlowBusyError, asyncio.TimeoutError):
            return errors.json_status(504, f"{route.http_method} {route.route} did not answer within "
                                           f"{route.timeout_s:g} s")
        except AppEndedError as exc:
            return errors.json_status(503, str(exc))
        except _Unencodable as exc:
            return _internal_error(route, exc.__cause__ or exc, str(exc))
        except Exception as exc:  # noqa: BLE001 - the handler raised: its status, or a 500 with an id
            status = getattr(exc, "status_code", None)
            if isinstance(status, int) and 400 <= status < 600:
                return errors.json_status(status, getattr(exc, "detail", None) or str(exc))
            return _internal_error(route, exc, f"{route.http_method} {route.route} failed")
        return web.Response(text=text, content_type="application/json", status=route.options.get("status_code", 200))


class _Unencodable(TypeError):
    """A handler returned a value that is not JSON."""


def _flow_call(route: UserRoute, args: dict[str, Any]) -> Callable[[Any, Any], str]:
    def call(app: Any, runtime: Any) -> str:
        return _encode(route, route.handler(**args))

    return call


def _encode(route: UserRoute, result: Any) -> str:
    try:
        return json.dumps(_jsonable(result))
    except (TypeError, ValueError) as exc:
        raise _Unencodable(f"{route.name} returned a value that is not JSON: {exc}") from exc


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "dict") and hasattr(value, "__fields__"):
        return json.loads(value.json())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _internal_error(route: UserRoute, exc: BaseException, what: str) -> web.Response:
    error_id = uuid.uuid4().hex[:12]
    log.error("api_handler_failed", route=f"{route.http_method} {route.route}", handler=route.name,
              error_id=error_id, traceback=user_traceback(exc, _SKIPPED_DIRS))
    return errors.json_status(500, f"{what} (error id {error_id}, in the control plane's log)", error_id=error_id)


async def _bind(route: UserRoute, path_params: dict[str, str], request: web.Request) -> dict[str, Any]:
    body_params = [p for p in route.params if p.source == "body"]
    wants_request = any(p.source == "request" for p in route.params)
    raw = await errors.read_body(request) if body_params or wants_request else b""
    body: Any = None
    if body_params and raw:
        try:
            body = json.loads(raw)
        except ValueError:
            raise _unprocessable([("body",)], "the body is not JSON") from None
    args: dict[str, Any] = {}
    value: Any
    problems: list[tuple[tuple[str, ...], str]] = []
    for param in route.params:
        if param.source == "request":
            args[param.name] = ApiRequest(request.method, dict(request.headers), raw, dict(request.query), str(request.url))
            continue
        if param.source == "path":
            present, value = True, path_params[param.name]
        elif param.source == "query":
            present, value = param.name in request.query, request.query.get(param.name)
        else:
            value = body.get(param.name) if len(body_params) > 1 and isinstance(body, dict) else body
            present = value is not None
        if not present:
            if param.required:
                problems.append(((param.source, param.name), "field required"))
            continue
        try:
            args[param.name] = _convert(value, param.annotation)
        except (TypeError, ValueError) as exc:
            problems.append(((param.source, param.name), str(exc).splitlines()[0]))
    if problems:
        raise _unprocessable([loc for loc, _ in problems], [msg for _, msg in problems])
    return args


def _unprocessable(locs: list[tuple[str, ...]], messages: Any) -> web.HTTPException:
    messages = messages if isinstance(messages, list) else [messages]
    detail = [{"loc": list(loc), "msg": msg, "type": "value_error"} for loc, msg in zip(locs, messages, strict=True)]
    return errors.json_error(web.HTTPUnprocessableEntity, detail)


def _convert(value: Any, annotation: Any) -> Any:
    """``value`` (a string from the path or query, or JSON from the body) as ``annotation`` says."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _convert(value, options[0]) if len(options) == 1 else value
    if _is_model(annotation):
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object for {annotation.__name__}")
        if hasattr(annotation, "model_validate"):
            return annotation.model_validate(value)
        return annotation.parse_obj(value)
    if annotation is bool:
        text = str(value).lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"expected a boolean, got {value!r}")
    if annotation in (int, float, str):
        try:
            return annotation(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected {annotation.__name__}, got {value!r}") from None
    return value
