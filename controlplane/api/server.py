"""Assembling the control plane's grpc.aio server."""

from __future__ import annotations

import grpc

from lightning_ctl.controlplane.api.agent_service import AgentServicer
from lightning_ctl.controlplane.api.app_service import AppServicer
from lightning_ctl.controlplane.api.interceptors import AuthInterceptor
from lightning_ctl.controlplane.api.storage_service import StorageServicer
from lightning_ctl.controlplane.credential_store import CredentialStore
from lightning_ctl.controlplane.credentials import TlsFiles
from lightning_ctl.controlplane.exclusive import port_error
from lightning_ctl.protos.lightning.v1 import agent_pb2_grpc, app_pb2_grpc, storage_pb2_grpc
from lightning_ctl.protos.limits import max_message_bytes
from lightning_ctl.protos.transport import server_options

__all__ = ["build_server"]


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
    agent_servicer: AgentServicer, credentials: CredentialStore, host: str, port: int, tls: TlsFiles | None = None,
    app_servicer: AppServicer | None = None, storage_servicer: StorageServicer | None = None,
) -> tuple[grpc.aio.Server, int, int]:
    """A server with the agent service (and the app and storage services) behind authentication, on ``host:port``.

    Returns the server, the bound port, and the port the local agent should use: the same one without TLS; with
    TLS, an extra plain port on 127.0.0.1 only (credentials are still required there).

    Raises:
        PortInUseError: the port is taken (SO_REUSEPORT is off: two apps never share a port).
    """
    max_receive = max_message_bytes(agent_servicer.gate.max_attribute_bytes)
    server = grpc.aio.server(interceptors=[AuthInterceptor(credentials)], options=server_options(max_receive))
    agent_pb2_grpc.add_AgentServiceServicer_to_server(agent_servicer, server)
    if app_servicer is not None:
        app_pb2_grpc.add_AppServiceServicer_to_server(app_servicer, server)
    if storage_servicer is not None:
        storage_pb2_grpc.add_StorageServiceServicer_to_server(storage_servicer, server)
    bound = _bind(server, host, port, tls.server_credentials() if tls else None)
    local_port = _bind(server, "127.0.0.1", 0, None) if tls else bound
    return server, bound, local_port
