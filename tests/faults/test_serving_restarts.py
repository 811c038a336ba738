"""A serving work's address survives restarts: SIGKILL the control plane (and rerun it) or its agent (and restart
it): the same work process keeps its port, the flow's url and port stay the same, and the control plane's proxy
reaches it again (through the new agent's tunnel)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.helpers.agents import Cluster
from tests.helpers.fault_cluster import sigkill_and_reap
from tests.helpers.serving import App

APPS = Path(__file__).resolve().parent.parent / "e2e" / "apps_serve"
TIMEOUT_S = 30.0


def _serving(cluster: Cluster) -> tuple[App, int, int]:
    """The two-agent serving app, its server's port (from a one-port range) and the pid answering the proxy."""
    port = free_port()
    cp = cluster.control_plane(APPS / "two_agents.py", "--http-port", "0")
    cluster.agent("server", "--cpus", "8", "--labels", "role=server", "--ports", f"{port}-{port}", may_exit=True)
    cluster.agent("client", "--cpus", "8", "--labels", "role=client")
    app = App(cluster, cp, TIMEOUT_S)
    cluster.wait_until(lambda: cp.lines_with("CLIENT_GOT", "stdout"), "the server to serve", TIMEOUT_S)
    return app, port, app.get("/works/root.server/hello").json()["pid"]


def _answering_pid(app: App) -> int | None:
    response = app.get("/works/root.server/hello")
    return response.json()["pid"] if response.status_code == 200 else None


@pytest.mark.fault
def test_the_address_survives_a_control_plane_restart(cluster: Cluster) -> None:
    """After SIGKILL and rerun of the control plane: same pid behind /works/root.server/, same url and port."""
    app, port, pid = _serving(cluster)
    sigkill_and_reap(app.cp)
    resumed = App(cluster, cluster.control_plane(APPS / "two_agents.py", "--http-port", "0"), TIMEOUT_S)
    resumed.cp.wait_for("app_resumed", timeout_s=15)
    assert cluster.wait_until(lambda: _answering_pid(resumed), "the proxy to answer again", TIMEOUT_S) == pid
    work = resumed.work("root.server")
    assert work["url"] == f"http://127.0.0.1:{port}" and work["restarts"] == 0, work


@pytest.mark.fault
def test_the_address_survives_an_agent_restart(cluster: Cluster) -> None:
    """After SIGKILL and restart of the server's agent: it adopts the work with its port; the proxy reaches the
    same process through the new agent."""
    app, port, pid = _serving(cluster)
    sigkill_and_reap(cluster.agents[0])
    cluster.agent("server", "--cpus", "8", "--labels", "role=server", "--ports", f"{port}-{port}")
    assert cluster.wait_until(lambda: _answering_pid(app), "the proxy to answer again", TIMEOUT_S) == pid
    work = app.work("root.server")
    assert work["url"] == f"http://127.0.0.1:{port}" and work["restarts"] == 0, work
