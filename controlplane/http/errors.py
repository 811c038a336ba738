"""Errors as JSON, in one place: every failure answers ``{"detail": ...}`` with a status that says what went wrong.

Unknown ``/api`` paths answer 404 ``{"detail": "Not found"}`` as before; a body over the limit 413 naming the limit
and the route; an error of ours (or of a handler) 500 with an ``error_id`` that the log names next to the
traceback, which never reaches the client.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger(component="http")

MAX_BODY_BYTES = 16 * 2**20
"""The largest request body the server reads."""


def json_error(kind: type[web.HTTPException], detail: Any, **extra: Any) -> web.HTTPException:
    """An aiohttp HTTP error whose body is ``{"detail": detail, **extra}``."""
    return kind(text=json.dumps({"detail": detail, **extra}), content_type="application/json")


def json_status(status: int, detail: Any, **extra: Any) -> web.Response:
    """A response of any status with body ``{"detail": detail, **extra}``."""
    return web.json_response({"detail": detail, **extra}, status=status)


async def read_json(request: web.Request) -> Any:
    """The request's body as JSON (None when empty).

    Raises:
        HTTPRequestEntityTooLarge: the body is over MAX_BODY_BYTES (413, naming the limit and the route).
        HTTPBadRequest: the body is not JSON.
    """
    body = await read_body(request)
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError as exc:
        raise json_error(web.HTTPBadRequest, f"the body of {request.method} {request.path} is not JSON: {exc}") from None


async def read_body(request: web.Request) -> bytes:
    """The request's raw body, refused with 413 when over MAX_BODY_BYTES."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _too_large(request)
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(request) from None


def _too_large(request: web.Request) -> web.HTTPException:
    detail = f"the body of {request.method} {request.path} is larger than the limit of {MAX_BODY_BYTES // 2**20} MiB"
    return web.HTTPRequestEntityTooLarge(
        max_size=MAX_BODY_BYTES, actual_size=request.content_length or MAX_BODY_BYTES + 1,
        text=json.dumps({"detail": detail, "limit_bytes": MAX_BODY_BYTES}), content_type="application/json",
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Unknown ``/api`` paths as JSON 404s; any other error of ours as a 500 with an id the log names."""
    try:
        return await handler(request)
    except web.HTTPNotFound as exc:
        if request.path.startswith("/api") and exc.content_type != "application/json":
            raise json_error(web.HTTPNotFound, "Not found") from None
        raise
    except web.HTTPMethodNotAllowed as exc:
        return json_status(405, f"{request.method} is not allowed on {request.path}",
                           allowed=sorted(exc.allowed_methods))
    except web.HTTPException:
        raise
    except Exception:  # noqa: BLE001 - the boundary: log the traceback, answer with an id, never the traceback
        error_id = uuid.uuid4().hex[:12]
        log.exception("http_request_failed", error_id=error_id, method=request.method, path=request.path)
        return json_status(500, f"internal error (id {error_id}, in the control plane's log)", error_id=error_id)
