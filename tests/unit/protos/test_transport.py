"""The server's connection bounds, as gRPC options (no server started)."""

from __future__ import annotations

import resource

from lightning_ctl.protos.transport import HANDSHAKE_TIMEOUT_MS, RESERVED_DESCRIPTORS, server_options


class TestConnectionOptions:
    def test_connections_leave_room_for_everything_else(self) -> None:
        """The connection quota is the open-files limit less a reserve; handshakes are bounded; no shared port."""
        options = dict(server_options(open_files_limit=4096))
        assert options["grpc.max_allowed_incoming_connections"] == 4096 - RESERVED_DESCRIPTORS
        assert options["grpc.server_handshake_timeout_ms"] == HANDSHAKE_TIMEOUT_MS
        assert options["grpc.so_reuseport"] == 0

    def test_an_unlimited_or_tiny_limit_still_gives_a_sane_quota(self) -> None:
        """RLIM_INFINITY caps at a C int's worth; a tiny limit keeps a handful of connections."""
        unlimited = dict(server_options(open_files_limit=resource.RLIM_INFINITY))
        assert 0 < unlimited["grpc.max_allowed_incoming_connections"] < 2**31
        assert dict(server_options(open_files_limit=100))["grpc.max_allowed_incoming_connections"] == 16
