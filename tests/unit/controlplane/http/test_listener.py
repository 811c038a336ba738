"""The HTTP port reservation never lets an OSError escape as a traceback."""

from __future__ import annotations

import socket

import pytest

from lightning_ctl.controlplane.errors import HttpPortInUseError
from lightning_ctl.controlplane.http.listener import reserve


def _listening() -> socket.socket:
    """A socket listening on a free loopback port."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    return sock


def test_a_taken_port_asked_for_is_a_clear_error() -> None:
    """A listener already on the port makes --http-port fail with HttpPortInUseError naming host and port."""
    holder = _listening()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(HttpPortInUseError, match=f"127.0.0.1:{port}"):
            reserve("127.0.0.1", port)
    finally:
        holder.close()


class _LosesTheRace(socket.socket):
    """A socket whose listen() fails as when another control plane bound the same port first and listens."""

    def listen(self, backlog: int = 0) -> None:
        if self.getsockname()[1] == _LosesTheRace.port:
            raise OSError(98, "Address already in use")
        super().listen(backlog)

    port = 0


def test_the_default_port_search_moves_on_when_listen_loses_a_race(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two control planes reserving at once: the one whose listen() fails moves on to the next port."""
    probe = _listening()
    _LosesTheRace.port = probe.getsockname()[1]
    probe.close()
    monkeypatch.setattr("lightning_ctl.controlplane.http.listener.DEFAULT_PORT", _LosesTheRace.port)
    monkeypatch.setattr("lightning_ctl.controlplane.http.listener.socket.socket", _LosesTheRace)
    sock = reserve("127.0.0.1", None)
    try:
        assert sock.getsockname()[1] != _LosesTheRace.port
    finally:
        sock.close()
