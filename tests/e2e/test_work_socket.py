"""End-to-end: the agent's socket for work processes believes only the works' own processes.

Another process of the machine connecting to it (garbage, an oversized frame, or a hello in a running work's name)
is turned away and logged; the work it named goes on undisturbed.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
from pathlib import Path

import pytest

from lightning_ctl.agent.home import AgentHome
from lightning_ctl.protos import codec
from lightning_ctl.sdk._agent_messages import RunnerHello
from tests.e2e import reported
from tests.helpers.agents import Cluster

APPS = Path(__file__).resolve().parent / "apps_multi"


def works_socket(cluster: Cluster, app: Path) -> str:
    """The socket the local agent of ``app`` listens on for its work processes."""
    digest = hashlib.sha256(os.path.abspath(app).encode()).hexdigest()[:16]
    return AgentHome(cluster.root / "home" / ".lightning-ctl" / "apps" / digest / "local").socket_path


def send(path: str, data: bytes) -> bytes:
    """Connect to ``path``, send ``data``, and return what comes back before the agent closes the connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect(path)
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.e2e
def test_only_a_works_own_process_is_believed(cluster: Cluster, tmp_path: Path) -> None:
    """Garbage, a frame announcing 1 GiB, and a hello in the running work's name from another process are each
    refused (the connection closed, nothing sent back); the work then finishes normally."""
    app = APPS / "holds_until_file.py"
    hold = tmp_path / "release"
    cp = cluster.control_plane(app, env={"HOLD_FILE": str(hold)}, local_agent=True)
    cp.wait_for_line("HOLDING", timeout_s=30)
    path = works_socket(cluster, app)
    assert send(path, struct.pack(">I", 5) + b"\xff\xfe\xfd\xfc\xfb") == b""
    assert send(path, struct.pack(">I", 2**30)) == b""
    hello = codec.runner_payload([], RunnerHello("root.w", 1, os.getpid(), initialized=True))
    assert send(path, struct.pack(">I", len(hello)) + hello) == b""
    cluster.wait_until(lambda: len(cp.lines_with("work_process_refused")) >= 3, "the three refusals to be logged")
    assert any("not that work's process" in line for line in cp.lines_with("work_process_refused"))
    hold.touch()
    run = cluster.wait_app(60, cp)
    assert run.exit_code == 0 and reported(run.stdout, "RELEASED") is True, cluster.output()
