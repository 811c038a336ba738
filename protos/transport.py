"""gRPC settings shared by every channel and server of lightning-ctl, and the protocol version they speak.

Keepalive with an explicit ping timeout notices a hung peer in seconds (without ``grpc.http2.ping_timeout_ms`` it
takes about a minute); application heartbeats on the agent's stream decide liveness, keepalive is the backstop.
Plain lists of options: importing this module loads no grpc.
"""

from __future__ import annotations

from lightning_ctl.protos.limits import DEFAULT_MAX_MESSAGE_BYTES

PROTOCOL_VERSION = 2
"""Version 2: per-attribute values in deltas, opaque runner events, agent credentials, event rejections."""

_KEEPALIVE = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.http2.ping_timeout_ms", 5_000),
]

Options = list[tuple[str, int]]


def server_options(max_receive_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Options:
    """The control plane's server: keepalive, tolerate clients' pings, and the largest message it accepts."""
    return [
        *_KEEPALIVE,
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
        ("grpc.http2.max_ping_strikes", 2),
        ("grpc.max_receive_message_length", max_receive_bytes),
    ]


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
