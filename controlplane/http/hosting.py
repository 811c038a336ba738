"""What ``AppHost`` does with the HTTP server, in a few calls: start it, give the app's processes its address and
their credential, serve the app's routes and frontends once the flows are loaded, print the view's URL, stop."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable

import structlog

from lightning_ctl.controlplane.api.views import AppViews
from lightning_ctl.controlplane.flows.queries import QueryBox
from lightning_ctl.controlplane.flows.state_watch import StateWatch
from lightning_ctl.controlplane.http.auth import work_credential
from lightning_ctl.controlplane.http.layout import LayoutError, find_frontends
from lightning_ctl.controlplane.http.server import HttpOptions, HttpServer
from lightning_ctl.controlplane.http.user_routes import RoutesError, read_app_routes
from lightning_ctl.controlplane.options import RunOptions
from lightning_ctl.controlplane.output.log_store import LogStore
from lightning_ctl.sdk._app_server import server_env
from lightning_ctl.sdk.errors import LightningError

log = structlog.get_logger(component="http")

_WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class AppServeError(LightningError):
    """The app's routes or frontends cannot be served (the message names the route or flow)."""


async def start_http(options: RunOptions, queries: QueryBox, views: AppViews, log_store: LogStore,
                     request_stop: Callable[[str], None], watch: StateWatch, app_path: str) -> HttpServer | None:
    """The app's HTTP server, listening; None with ``--no-http``."""
    if not options.http:
        return None
    server = HttpServer(
        HttpOptions(options.host, options.http_port, options.tls, options.http_allowed_hosts),
        options.token, queries, views, log_store, request_stop, watch, app_path,
    )
    await server.start()
    return server


def app_process_env(server: HttpServer | None, token: str) -> dict[str, str]:
    """The address of the app's server and the app's own credential, for its work processes and frontends."""
    if server is None:
        return {}
    host = server.options.host
    if host in _WILDCARD_HOSTS:
        host = socket.gethostname()
    host = f"[{host}]" if ":" in host else host
    return server_env(f"{server.scheme}://{host}", server.port, work_credential(token))


async def serve_app(server: HttpServer, queries: QueryBox) -> None:
    """Serve the routes of the app's configure_api()/configure_commands() and start its frontends.

    Raises:
        AppServeError: they cannot be served.
    """
    try:
        frontends = await queries.ask(lambda app, runtime: find_frontends(app.root))
        apis, commands = await queries.ask(read_app_routes)
        await server.install_app(frontends, apis, commands)
    except (LayoutError, RoutesError, ValueError, TypeError) as exc:
        raise AppServeError(f"the app cannot be served over HTTP: {exc}") from None


def announce(server: HttpServer) -> None:
    """Print the view's one-time login link (to the console only: it is a credential, kept out of the logs)."""
    print(f"Your app has started. View it in your browser: {server.login_url()}", file=sys.stderr, flush=True)
