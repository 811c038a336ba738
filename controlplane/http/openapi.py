"""The OpenAPI document of the app's HTTP API (``/openapi.json``): the built-in routes and the app's own.

``/docs`` is a page shipped with the package that renders this document (no CDN).
"""

from __future__ import annotations

import inspect
from typing import Any

from lightning_ctl.controlplane.http.user_routes import Param, UserRoute

_BUILT_IN: list[tuple[str, str, str]] = [
    ("get", "/api/v1/state", "The app's state (vars of every flow and work, and the app's stage)"),
    ("post", "/api/v1/state", 'Change the state: {"state": <the state with your changes>} or {"stage": "stopping"}'),
    ("post", "/api/v1/delta", "Change the state with a DeepDiff-style delta: {\"delta\": {...}}"),
    ("get", "/api/v1/status", "Whether the UI is ready and each work's status"),
    ("get", "/api/v1/layout", "The layout's tabs (a JSON-encoded string)"),
    ("get", "/api/v1/agents", "The agents: resources offered, reserved by works, and in use"),
    ("post", "/api/v1/stop", "Stop the app (exit status 0)"),
    ("post", "/api/v1/login-links", "A one-time login link for a browser"),
    ("get", "/api/v1/events", "The view, pushed as it changes (Server-Sent Events)"),
    ("get", "/api/v1/logs", "Works' output: ?work=NAME&tail=N&follow=1 (Server-Sent Events when following)"),
    ("get", "/api/v1/ws", "WebSocket: a counter sent each time the state changes"),
    ("get", "/healthz", "{\"status\": \"ok\"} while the flows answer"),
]
_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", dict: "object", list: "array"}


def openapi_document(title: str, routes: list[UserRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for the built-in routes and ``routes``."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary in _BUILT_IN:
        paths.setdefault(path, {})[method] = {"summary": summary, "tags": ["lightning-ctl"],
                                              "responses": {"200": {"description": "OK"}}}
    for route in routes:
        paths.setdefault(route.route, {})[route.http_method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                           "basic": {"type": "http", "scheme": "basic"}}},
        "security": [{"bearer": []}, {"basic": []}],
        "paths": paths,
    }


def _operation(route: UserRoute) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.options.get("summary") or _first_line(route.handler),
        "tags": list(route.options.get("tags") or [route.tag]),
        "parameters": [_parameter(p) for p in route.params if p.source in ("path", "query")],
        "responses": {str(route.options.get("status_code", 200)): {"description": "OK"}},
    }
    if route.options.get("description"):
        operation["description"] = route.options["description"]
    body = [p for p in route.params if p.source == "body"]
    if body:
        operation["requestBody"] = {"required": any(p.required for p in body),
                                    "content": {"application/json": {"schema": _schema(body[0].annotation)}}}
    return operation


def _parameter(param: Param) -> dict[str, Any]:
    return {"name": param.name, "in": param.source, "required": param.required or param.source == "path",
            "schema": _schema(param.annotation)}


def _schema(annotation: Any) -> dict[str, Any]:
    if hasattr(annotation, "model_json_schema"):
        return annotation.model_json_schema()
    if annotation in _TYPES:
        return {"type": _TYPES[annotation]}
    return {}


def _first_line(handler: Any) -> str:
    doc = inspect.getdoc(handler) or ""
    return doc.splitlines()[0] if doc else getattr(handler, "__name__", "")
