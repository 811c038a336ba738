"""What ``AppHost`` does with the HTTP server, in a few calls.

Start it on the port ``listener`` reserved (the web framework loads off the asyncio thread, once the app has
started), serve the app's routes and frontends, print the view's URL. Importing this module loads no web
framework.
"""

from __future__ import annotations

import asyncio
import importlib
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog

from lightning_ctl.controlplane.agents.registry import AgentRegistry
from lightning_ctl.controlplane.agents.serving import ServingWork
from lightning_ctl.controlplane.api.views import AppViews
from lightning_ctl.controlplane.credential_store import CredentialStore
from lightning_ctl.controlplane.errors import AppServeError, LayoutError, RoutesError
from lightning_ctl.controlplane.flows.queries import QueryBox
from lightning_ctl.controlplane.flows.state_watch import StateWatch
from lightning_ctl.controlplane.http.layout import find_frontends
from lightning_ctl.controlplane.options import RunOptions
from lightning_ctl.controlplane.output.log_store import LogStore

if TYPE_CHECKING:
    from lightning_ctl.controlplane.http.server import HttpServer

log = structlog.get_logger(component="http")

async def load_web() -> None:
    """Import the web framework and the server in a worker thread (~0.15 s of CPU), not on the asyncio thread."""
    await asyncio.to_thread(importlib.import_module, "lightning_ctl.controlplane.http.server")
    await asyncio.to_thread(importlib.import_module, "lightning_ctl.controlplane.http.work_proxy")


async def start_http(options: RunOptions, sock: socket.socket, credentials: CredentialStore, queries: QueryBox,
                     views: AppViews, log_store: LogStore, request_stop: Callable[[str], None], watch: StateWatch,
                     app_path: str, registry: AgentRegistry,
                     open_tunnel: Callable[[ServingWork], Awaitable[socket.socket]]) -> HttpServer:
    """The app's HTTP server, serving on ``sock`` (call :func:`load_web` first).

    ``credentials`` decide who gets in; the works' servers (``registry.serving``) are served at
    ``/works/<name>/``, remote ones through ``open_tunnel``.
    """
    server_module = importlib.import_module("lightning_ctl.controlplane.http.server")
    proxy_module = importlib.import_module("lightning_ctl.controlplane.http.work_proxy")
    server = server_module.HttpServer(
        server_module.HttpOptions(options.host, options.tls, options.http_allowed_hosts),
        credentials, queries, views, log_store, request_stop, watch, app_path,
    )
    work_proxy = proxy_module.WorkProxy(registry, open_tunnel, lambda: server.auth.cookie_name)
    for method, path, handler in work_proxy.routes():
        server.add_route(method, path, handler)
    server.on_stop(work_proxy.close)
    await server.start(sock)
    return server


async def serve_app(server: HttpServer, queries: QueryBox) -> None:
    """Serve the routes of the app's configure_api()/configure_commands() and start its frontends.

    Raises:
        AppServeError: they cannot be served.
    """
    from lightning_ctl.controlplane.http.user_routes import read_app_routes

    try:
        frontends = await queries.ask(lambda app, runtime: find_frontends(app.root))
        apis, commands = await queries.ask(read_app_routes)
        await server.install_app(frontends, apis, commands)
    except (LayoutError, RoutesError, ValueError, TypeError) as exc:
        raise AppServeError(f"the app cannot be served over HTTP: {exc}") from None


def announce(server: HttpServer) -> None:
    """Print the view's one-time login link (to the console only: it is a credential, kept out of the logs)."""
    print(f"Your app has started. View it in your browser: {server.login_url()}", file=sys.stderr, flush=True)
