"""Assembling the control plane's grpc.aio server."""

from __future__ import annotations

import resource

import grpc

from lightning_ctl.controlplane.api.agent_service import AgentServicer
from lightning_ctl.controlplane.api.app_service import AppServicer
from lightning_ctl.controlplane.api.connection_limits import connection_options
from lightning_ctl.controlplane.api.interceptors import TokenAuthInterceptor
from lightning_ctl.controlplane.credentials import TlsFiles
from lightning_ctl.controlplane.exclusive import port_error
from lightning_ctl.protos.lightning.v1 import agent_pb2_grpc, app_pb2_grpc

SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.http2.ping_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_ping_strikes", 2),
    ("grpc.max_receive_message_length", 64 * 2**20),
    ("grpc.so_reuseport", 0),  # on by default: a second app could listen on the same port and take half the calls
]


def _bind(server: grpc.aio.Server, host: str, port: int, credentials: grpc.ServerCredentials | None) -> int:
    address = f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"
    try:
        bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    except RuntimeError:
        bound = 0
    if bound == 0:
        raise port_error(host, port)
    return bound


def build_server(
    agent_servicer: AgentServicer, token: str, host: str, port: int, tls: TlsFiles | None = None,
    app_servicer: AppServicer | None = None,
) -> tuple[grpc.aio.Server, int, int]:
    """A server with the agent service (and the app service) behind token authentication, on ``host:port``.

    Returns the server, the bound port, and the port the local agent should use: the same one without TLS; with
    TLS, an extra plain port on 127.0.0.1 only (the token is still required there).

    Raises:
        PortInUseError: the port is taken (SO_REUSEPORT is off: two apps never share a port).
    """
    open_files = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    server = grpc.aio.server(interceptors=[TokenAuthInterceptor(token)],
                             options=[*SERVER_OPTIONS, *connection_options(open_files)])
    agent_pb2_grpc.add_AgentServiceServicer_to_server(agent_servicer, server)
    if app_servicer is not None:
        app_pb2_grpc.add_AppServiceServicer_to_server(app_servicer, server)
    bound = _bind(server, host, port, tls.server_credentials() if tls else None)
    local_port = _bind(server, "127.0.0.1", 0, None) if tls else bound
    return server, bound, local_port
