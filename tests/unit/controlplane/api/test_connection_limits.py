"""Connection bounds: the server options and the descriptor watch, without processes."""

from __future__ import annotations

import resource

from lightning_ctl.controlplane.api.connection_limits import (
    HANDSHAKE_TIMEOUT_MS,
    RESERVED_DESCRIPTORS,
    DescriptorWatch,
    connection_options,
    open_descriptors,
)


class TestConnectionOptions:
    def test_connections_leave_room_for_everything_else(self) -> None:
        """The connection quota is the open-files limit less a reserve; handshakes are bounded."""
        options = dict(connection_options(4096))
        assert options["grpc.max_allowed_incoming_connections"] == 4096 - RESERVED_DESCRIPTORS
        assert options["grpc.server_handshake_timeout_ms"] == HANDSHAKE_TIMEOUT_MS

    def test_an_unlimited_or_tiny_limit_still_gives_a_sane_quota(self) -> None:
        """RLIM_INFINITY caps at a C int's worth; a tiny limit keeps a handful of connections."""
        assert 0 < dict(connection_options(resource.RLIM_INFINITY))["grpc.max_allowed_incoming_connections"] < 2**31
        assert dict(connection_options(100))["grpc.max_allowed_incoming_connections"] == 16


class TestDescriptorWatch:
    def test_warns_once_when_running_low(self) -> None:
        """Below 90 % nothing; at 90 % one warning with the counts; never again after."""
        said: list[tuple[int, int]] = []
        watch = DescriptorWatch(lambda count, limit: said.append((count, limit)))
        assert not watch.check(500, 1000)
        assert watch.check(950, 1000)
        assert not watch.check(1000, 1000)
        assert not watch.check(100, 1000) and not watch.check(990, 1000)
        assert said == [(950, 1000)]

    def test_counts_this_process(self) -> None:
        """With no figures given it measures this process (which has at least its standard streams open)."""
        assert open_descriptors() >= 3
        assert not DescriptorWatch(lambda count, limit: None).check(limit=10**6)
