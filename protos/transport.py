"""gRPC settings shared by every channel and server of lightning-ctl, and the protocol version they speak.

Keepalive with an explicit ping timeout notices a hung peer in seconds (without ``grpc.http2.ping_timeout_ms`` it
takes about a minute); application heartbeats on the agent's stream decide liveness, keepalive is the backstop.
Plain lists of options: importing this module loads no grpc.

The server also bounds connections before they authenticate (authentication is per call, so a connection that
never makes one costs only its socket): a handshake must finish within ``HANDSHAKE_TIMEOUT_MS``, a connection with
no call in flight is closed after ``IDLE_TIMEOUT_MS`` (clients reconnect transparently), and connections beyond
what the open-files limit leaves room for are refused at once, so accepting never runs the process out of
descriptors (gRPC would otherwise retry its accept every second, stalling every new caller). SO_REUSEPORT, on by
default in gRPC, is off: a second app could otherwise listen on the same port and take half the calls.
"""

from __future__ import annotations

import resource

from lightning_ctl.protos.limits import DEFAULT_MAX_MESSAGE_BYTES

PROTOCOL_VERSION = 2
"""Version 2: per-attribute values in deltas, opaque runner events, agent credentials, event rejections."""

_KEEPALIVE = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.http2.ping_timeout_ms", 5_000),
]

HANDSHAKE_TIMEOUT_MS = 3_000
IDLE_TIMEOUT_MS = 10_000
RESERVED_DESCRIPTORS = 256
"""Left for everything but connections: log and checkpoint files, bundles, pipes, gRPC's own."""
_MAX_CONNECTIONS = 1 << 20
"""At most this many connections, however high the open-files limit (the option is a C int)."""

Options = list[tuple[str, int]]


def server_options(max_receive_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, open_files_limit: int | None = None) -> Options:
    """The control plane's server options.

    Keepalive, tolerate clients' pings, the largest message it accepts, no shared port, and bounded
    connections (``open_files_limit``: this process's soft limit when not given).
    """
    return [
        *_KEEPALIVE,
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.max_receive_message_length", max_receive_bytes),
        ("grpc.so_reuseport", 0),
        ("grpc.server_handshake_timeout_ms", HANDSHAKE_TIMEOUT_MS),
        ("grpc.max_connection_idle_ms", IDLE_TIMEOUT_MS),
        ("grpc.max_allowed_incoming_connections", max_incoming_connections(open_files_limit)),
    ]


def max_incoming_connections(open_files_limit: int | None = None) -> int:
    """How many connections the server accepts: the open-files limit less a reserve (at least a handful)."""
    if open_files_limit is None:
        open_files_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if open_files_limit == resource.RLIM_INFINITY or open_files_limit <= 0:
        open_files_limit = _MAX_CONNECTIONS
    return max(16, min(_MAX_CONNECTIONS, open_files_limit) - RESERVED_DESCRIPTORS)


def agent_channel_options() -> Options:
    """An agent's channel: keepalive even while idle, quick reconnection, any size from its control plane."""
    return [
        *_KEEPALIVE,
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.initial_reconnect_backoff_ms", 250),
        ("grpc.max_reconnect_backoff_ms", 2_000),
        ("grpc.max_receive_message_length", -1),
    ]


def client_channel_options() -> Options:
    """The operator's client (``lightning-ctl status/logs/...``)."""
    return [
        *_KEEPALIVE,
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_receive_message_length", DEFAULT_MAX_MESSAGE_BYTES),
    ]
