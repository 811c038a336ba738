"""End-to-end: connections are bounded before they authenticate, and running out of file descriptors neither
floods the console nor stalls authenticated calls for long."""

from __future__ import annotations

import asyncio
import socket
import subprocess

import grpc
import psutil
import pytest

from lightning_ctl.protos.lightning.v1 import agent_pb2_grpc
from tests.e2e import APPS
from tests.helpers import wait_until
from tests.helpers.agents import Cluster
from tests.helpers.processes import LIGHTNING_CTL

DEADLINE_S = 20.0
"""Far above the bounds (a few seconds), far below what they replace (two minutes, or never)."""
HANDSHAKE_DEADLINE_S = 10.0
"""Above the handshake bound (3 s), below what closed such connections before: keepalive, 10 s + 5 s."""


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the peer closed ``sock`` (non-blocking; what it sent before, its HTTP/2 settings, is skipped)."""
    try:
        while True:
            if sock.recv(4096) == b"":
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except BlockingIOError:
        return False


@pytest.mark.e2e
def test_connections_that_never_handshake_are_closed(cluster: Cluster) -> None:
    """Raw TCP connections that never speak HTTP/2 are closed by the control plane within seconds."""
    cp = cluster.control_plane(APPS / "lifecycle.py", "--env", "LC_WORKS=0")
    sockets = [socket.create_connection(("127.0.0.1", cp.port)) for _ in range(20)]
    for sock in sockets:
        sock.setblocking(False)
    try:
        wait_until(lambda: all(closed_by_peer(s) for s in sockets), HANDSHAKE_DEADLINE_S,
                   what="the control plane to close connections that never handshake")
    finally:
        for sock in sockets:
            sock.close()


@pytest.mark.e2e
def test_a_stream_that_never_registers_is_closed(cluster: Cluster) -> None:
    """A stream opened with a valid join token that never registers is ended by the control plane
    (DEADLINE_EXCEEDED)."""
    cp = cluster.control_plane(APPS / "lifecycle.py", "--env", "LC_WORKS=0")

    async def silent_stream() -> grpc.StatusCode:
        async with grpc.aio.insecure_channel(cp.loopback_address) as channel:
            call = agent_pb2_grpc.AgentServiceStub(channel).Connect(
                metadata=(("authorization", f"Bearer {cluster.join_token}"),))
            try:
                await asyncio.wait_for(call.read(), DEADLINE_S)
            except grpc.aio.AioRpcError as exc:
                return exc.code()
            return grpc.StatusCode.OK

    assert asyncio.run(silent_stream()) == grpc.StatusCode.DEADLINE_EXCEEDED


@pytest.mark.e2e
def test_running_out_of_descriptors_is_said_once_and_calls_recover(cluster: Cluster) -> None:
    """With its open-files limit nearly reached and idle connections piling up, the control plane says so once
    (with advice, and no flood of gRPC's own lines), and an authenticated call succeeds within seconds."""
    cp = cluster.control_plane(APPS / "lifecycle.py", "--env", "LC_WORKS=0")
    cp.wait_for("Your app has started")  # the HTTP server too is up: the control plane has all it opens at start
    process = psutil.Process(cp.pid)
    limit = process.num_fds() + 30
    process.rlimit(psutil.RLIMIT_NOFILE, (limit, limit))
    sockets = []
    try:
        for _ in range(60):
            sockets.append(socket.create_connection(("127.0.0.1", cp.port)))
        cp.wait_for("file_descriptors_running_out", timeout_s=DEADLINE_S)
        status = subprocess.run(
            [LIGHTNING_CTL, "--address", cp.loopback_address, "--token", cluster.token, "status"],
            env=cluster.env(), capture_output=True, text=True, timeout=DEADLINE_S + 10)
        assert status.returncode == 0, status.stdout + status.stderr + cluster.output()
    finally:
        for sock in sockets:
            sock.close()
    assert len(cp.lines_with("file_descriptors_running_out")) == 1, cluster.output()
    assert "ulimit" in cp.lines_with("file_descriptors_running_out")[0]
    assert not cp.lines_with("File descriptor limit reached"), cluster.output()
