"""HttpServer: the app's HTTP server (aiohttp), on the control plane's asyncio loop next to gRPC.

    start(socket) ─► serve on the port ``listener`` reserved (TLS with the control plane's certificate)
    install_app(frontends, apis, commands) ─► the app's own routes and UIs, once its flows are loaded
    close(exit_code) ─► push streams end ─► stop() ─► frontends stopped, listener closed

Every request goes through the guard first (``auth``: Host, credentials, Origin, scope), then the routes:

    /view, /view/<asset>     the dashboard (static files shipped in the package)
    /api/v1/..., /healthz    the REST API and push streams (``rest``)
    /openapi.json, /docs     the API's description
    /ui/<flow>/...           the flows' frontends (``frontends``)
    anything else            the app's configure_api routes and /command/<name> (``user_routes``), else 404

    /works/<work>/...        each serving work's server (``work_proxy``, added with :meth:`add_route`)

A route for another part is added with :meth:`add_route` before ``start()``.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from lightning_ctl.controlplane.api.views import AppViews
from lightning_ctl.controlplane.credential_store import CredentialStore
from lightning_ctl.controlplane.credentials import TlsFiles
from lightning_ctl.controlplane.flows.queries import QueryBox
from lightning_ctl.controlplane.flows.state_watch import StateWatch
from lightning_ctl.controlplane.http import errors
from lightning_ctl.controlplane.http.auth import SESSION_TTL_S, Authenticator, Refusal
from lightning_ctl.controlplane.http.frontends import Frontends
from lightning_ctl.controlplane.http.listener import local_url
from lightning_ctl.controlplane.http.openapi import openapi_document
from lightning_ctl.controlplane.http.push import StateHub
from lightning_ctl.controlplane.http.rest import RestApi
from lightning_ctl.controlplane.http.user_routes import UserRoutes, build_routes
from lightning_ctl.controlplane.output.log_store import LogStore
from lightning_ctl.sdk._frontend import Frontend

log = structlog.get_logger(component="http")

STATIC_DIR = Path(__file__).resolve().parent / "static"
_VIEW_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
             "frame-src *; frame-ancestors 'self'; base-uri 'none'; form-action 'self'")
_ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml",
                ".png": "image/png"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class HttpOptions:
    """Where and how the HTTP server listens."""

    host: str = "127.0.0.1"
    tls: TlsFiles | None = None
    allowed_hosts: tuple[str, ...] = ()
    """Host names (besides IP addresses, loopback names and this machine's) that requests may be addressed to."""


class HttpServer:
    """The app's HTTP server: view, REST API, push streams, the app's routes and frontends."""

    def __init__(self, options: HttpOptions, credentials: CredentialStore, queries: QueryBox, views: AppViews,
                 log_store: LogStore, request_stop: Callable[[str], None], watch: StateWatch, app_path: str) -> None:
        self.options = options
        self._credentials = credentials
        self._queries = queries
        self._views = views
        self._log_store = log_store
        self._request_stop = request_stop
        self._watch = watch
        self._app_path = app_path
        self._app = web.Application(client_max_size=errors.MAX_BODY_BYTES,
                                    middlewares=[self._guard, errors.error_middleware])
        self._runner: web.AppRunner | None = None
        self._extra_routes: list[tuple[str, str, Handler]] = []
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self.port = 0
        self.auth: Authenticator | None = None
        self.user_routes = UserRoutes(queries)
        self.frontends: Frontends | None = None
        self.hub = StateHub(queries, watch, views, app_path, lambda: self.frontends.frontends if self.frontends else {})

    @property
    def scheme(self) -> str:
        """``https`` with TLS, else ``http``."""
        return "https" if self.options.tls else "http"

    @property
    def url(self) -> str:
        """The server's base URL for a browser on this machine (``http://127.0.0.1:7501``)."""
        return local_url(self.scheme, self.options.host, self.port)

    def add_route(self, method: str, path: str, handler: Handler) -> None:
        """Serve ``method path`` with ``handler`` behind the same guard (before :meth:`start`)."""
        self._extra_routes.append((method, path, handler))

    def on_stop(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Await ``cleanup`` when the server stops (before its listener closes)."""
        self._on_stop.append(cleanup)

    def login_url(self) -> str:
        """A new one-time login link to the view."""
        assert self.auth is not None, "start() first"
        return f"{self.url}/view?token={self.auth.mint_login_code()}"

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self, sock: socket.socket) -> None:
        """Serve on ``sock`` (a listening socket, see ``listener.reserve``)."""
        rest = RestApi(self._queries, self._views, self._log_store, self.hub, self._request_stop, self.login_url,
                       lambda: self.frontends.frontends if self.frontends else {})
        router = self._app.router
        rest.add_routes(router)
        router.add_get("/", self._root)
        router.add_get("/view", self._view)
        router.add_get("/view/{asset}", self._asset)
        router.add_get("/docs", self._docs)
        router.add_get("/openapi.json", self._openapi)
        router.add_route("*", "/ui/{flow}", self._frontend)
        router.add_route("*", "/ui/{flow}/{tail:.*}", self._frontend)
        for method, path, handler in self._extra_routes:
            router.add_route(method, path, handler)
        router.add_route("*", "/{tail:.*}", self._app_route)
        self._app.on_response_prepare.append(_security_headers)
        self._runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await self._runner.setup()
        ssl_context = None
        if self.options.tls is not None:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(self.options.tls.cert, self.options.tls.key)
        await web.SockSite(self._runner, sock, ssl_context=ssl_context).start()
        self.port = int(sock.getsockname()[1])
        self.auth = Authenticator(self._credentials, self.options.host, self.port, self.options.allowed_hosts)
        self.frontends = Frontends(self.auth.cookie_name)
        log.info("http_listening", url=self.url, tls=self.options.tls is not None)

    async def install_app(self, frontends: dict[str, Frontend], apis: list[Any], commands: list[Any]) -> None:
        """Serve the app's own routes and start its frontends (once its flows are loaded).

        Raises:
            RoutesError: configure_api() or configure_commands() returned something that cannot be served.
        """
        taken = lambda method, path: any(  # noqa: E731
            r.resource is not None and r.method == method and r.resource.canonical == path
            for r in self._app.router.routes()
        )
        self.user_routes.routes = build_routes(apis, commands, taken)
        assert self.frontends is not None
        await self.frontends.start(frontends)
        for route in self.user_routes.routes:
            log.info("app_route_served", method=route.http_method, route=route.route, handler=route.name)

    def close(self, exit_code: int, message: str = "") -> None:
        """The app ended: end the push streams with how it ended."""
        self.hub.close(exit_code, message)

    async def stop(self) -> None:
        """Stop the frontends and the listener (idempotent)."""
        if self.frontends is not None:
            await self.frontends.stop()
        cleanups, self._on_stop = self._on_stop, []
        for cleanup in cleanups:
            await cleanup()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- the guard ------------------------------------------------------------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        auth = self.auth
        assert auth is not None
        refusal = auth.check_host(request.headers.get("Host", ""))
        if refusal is not None:
            return _refuse(request, refusal)
        if request.path == "/view" and "token" in request.query and request.method == "GET":
            return self._log_in(request, auth)
        scope = auth.identify(request.headers.get("Authorization"), request.cookies.get(auth.cookie_name))
        if scope is None:
            return _refuse(request, Refusal(401, "authentication required: open the login link that `lightning-ctl "
                                                 "run` printed (or run `lightning-ctl view`), or send "
                                                 "Authorization: Bearer <token>"))
        is_websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        refusal = auth.check_origin(request.method, is_websocket, request.headers.get("Origin"), request.host,
                                    request.scheme)
        if refusal is not None:
            return _refuse(request, refusal)
        if not auth.allows(scope, request.path):
            return _refuse(request, Refusal(403, f"the app's own credential may not use {request.path}"))
        request["scope"] = scope
        return await handler(request)

    def _log_in(self, request: web.Request, auth: Authenticator) -> web.StreamResponse:
        session = auth.redeem_login_code(request.query["token"])
        if session is None:
            log.warning("login_link_refused", peer=request.remote)
            return _refuse(request, Refusal(401, "this login link was already used or has expired: run "
                                                 "`lightning-ctl view` for a new one"))
        log.info("browser_logged_in", peer=request.remote)
        response = web.Response(status=303, headers={"Location": _landing(request.query.get("next", ""))})
        response.set_cookie(auth.cookie_name, session, httponly=True, samesite="Strict", path="/",
                            secure=self.options.tls is not None, max_age=int(SESSION_TTL_S))
        return response

    # -- pages ----------------------------------------------------------------------------------------------------

    async def _root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/view")

    async def _view(self, request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(STATIC_DIR / "view.html", headers={"Cache-Control": "no-store"})
        response.headers["Content-Security-Policy"] = _VIEW_CSP
        return response

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["asset"]
        path = STATIC_DIR / name
        if "/" in name or name.startswith(".") or not path.is_file() or path.suffix not in _ASSET_TYPES:
            raise errors.json_error(web.HTTPNotFound, f"no asset {name!r}")
        return web.FileResponse(path, headers={"Content-Type": _ASSET_TYPES[path.suffix]})

    async def _docs(self, request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(STATIC_DIR / "docs.html")
        response.headers["Content-Security-Policy"] = _VIEW_CSP
        return response

    async def _openapi(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(openapi_document(Path(self._app_path).name, self.user_routes.routes))

    async def _frontend(self, request: web.Request) -> web.StreamResponse:
        assert self.frontends is not None
        if "tail" not in request.match_info:
            raise web.HTTPFound(f"/ui/{request.match_info['flow']}/")
        return await self.frontends.serve(request)

    async def _app_route(self, request: web.Request) -> web.StreamResponse:
        found = self.user_routes.find(request.method, request.path)
        if found is not None:
            return await self.user_routes.serve(found[0], found[1], request)
        allowed = self.user_routes.allows_path(request.path)
        if allowed:
            return errors.json_status(405, f"{request.method} is not allowed on {request.path}", allowed=allowed)
        raise errors.json_error(web.HTTPNotFound, "Not found")


def _refuse(request: web.Request, refusal: Refusal) -> web.Response:
    if request.path.startswith(("/api", "/command", "/healthz", "/openapi.json")):
        return errors.json_status(refusal.status, refusal.message)
    page = (STATIC_DIR / "refused.html").read_text().replace("{{message}}", _html_escape(refusal.message))
    return web.Response(text=page, status=refusal.status, content_type="text/html")


def _landing(next_path: str) -> str:
    """Where a login link lands.

    A path of this server it names (``next``: a work's or a frontend's page), else the view. Never another site.
    """
    if next_path.startswith(("/works/", "/ui/")) and "//" not in next_path and "\\" not in next_path:
        return next_path
    return "/view"


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
