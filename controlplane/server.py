"""Assembling the control plane's grpc.aio server."""

from __future__ import annotations

import grpc

from controlplane.interceptors import TokenAuthInterceptor
from controlplane.services.agent_service import AgentServicer
from protos.lightning.v1 import agent_pb2_grpc

SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.http2.ping_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_ping_strikes", 2),
    ("grpc.max_receive_message_length", 64 * 2**20),
]


class PortInUseError(OSError):
    """The requested address could not be bound."""


def build_server(agent_servicer: AgentServicer, token: str, host: str, port: int) -> tuple[grpc.aio.Server, int]:
    """A server with the agent service behind token authentication, bound to ``host:port``; and the bound port."""
    server = grpc.aio.server(interceptors=[TokenAuthInterceptor(token)], options=SERVER_OPTIONS)
    agent_pb2_grpc.add_AgentServiceServicer_to_server(agent_servicer, server)
    try:
        bound = server.add_insecure_port(f"{host}:{port}")
    except RuntimeError as exc:
        raise PortInUseError(f"cannot listen on {host}:{port}: {exc}") from None
    if bound == 0:
        raise PortInUseError(f"cannot listen on {host}:{port} (in use?)")
    return server, bound
