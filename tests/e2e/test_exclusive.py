"""End-to-end: what a run owns alone: its port (one app per port) and its app file (one run at a time), and an
agent its home (one agent per socket). A refused process fails at once, before it starts or touches anything."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from tests.e2e import APPS
from tests.helpers import free_port, wait_until
from tests.helpers.agents import Cluster
from tests.helpers.processes import alive

TIMEOUT_S = 30.0


def describe(run) -> str:  # noqa: ANN001
    return f"exit {run.exit_code}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"


def work_pids(process, count: int = 2) -> set[int]:  # noqa: ANN001
    return {int(process.wait_for_line(f"root.w{i} | pid=").rsplit("=", 1)[1]) for i in range(count)}


@pytest.mark.e2e
def test_a_second_app_on_a_taken_port_fails_at_once_without_loading(launch, tmp_path: Path) -> None:
    """--port N while another app listens on N: exit 1 with "port N is in use", the app never loaded (SO_REUSEPORT
    is off, so the two never share the port), and the first app runs on untouched."""
    port = free_port()
    first = launch("lifecycle.py", "--port", str(port), "--stop-grace", "2", env={"LC_GO": str(tmp_path / "go")})
    pids = work_pids(first)
    other_app = tmp_path / "other.py"
    shutil.copy(APPS / "lifecycle.py", other_app)
    marker = tmp_path / "loaded"
    second = launch(str(other_app), "--port", str(port), env={"LC_MARKER": str(marker)})
    run = second.wait(TIMEOUT_S)
    assert run.exit_code == 1, describe(run)
    assert f"port {port} is in use" in run.stderr, describe(run)
    assert not marker.exists(), "the refused run loaded its app (or its local agent did)"
    assert alive(pids) == pids, "the first app's works were touched"
    (tmp_path / "go").touch()
    assert first.wait(TIMEOUT_S).exit_code == 0


@pytest.mark.e2e
def test_a_second_agent_on_the_same_home_fails_at_once(cluster: Cluster) -> None:
    """A lightning-agent whose --name is taken in its --state-dir (its identity, socket and works) exits 1 naming
    it; the first keeps its socket and its works."""
    cp = cluster.control_plane(APPS / "lifecycle.py", "--env", "LC_WORKS=1")
    first = cluster.agent("a", "--gpus", "none")
    pid = int(cp.wait_for_line("root.w0 | pid=").rsplit("=", 1)[1])
    second = cluster.agent("a", "--gpus", "none", may_exit=True)
    assert second.wait_exit(TIMEOUT_S) == 1, cluster.output()
    assert "already runs as 'a'" in second.stderr and "--name" in second.stderr, second.output()
    assert first.proc.poll() is None and alive({pid}) == {pid}
    socket_path = next((first.state_dir / "a").glob("works.sock"))
    with socket.socket(socket.AF_UNIX) as probe:
        probe.connect(str(socket_path))  # still the first agent's listener


@pytest.mark.e2e
def test_a_second_run_of_the_same_app_is_refused_and_touches_nothing(launch, tmp_path: Path) -> None:
    """A second run of a running app file exits 1 ("already running") before starting or adopting anything: the
    first run's agent and works keep running, and it ends normally."""
    go = tmp_path / "go"
    first = launch("lifecycle.py", "--stop-grace", "2", env={"LC_GO": str(go)})
    pids = work_pids(first)
    agents = first.record_pids() - pids - {first.proc.pid}
    marker = tmp_path / "loaded"
    second = launch("lifecycle.py", "--stop-grace", "2", env={"LC_MARKER": str(marker)})
    run = second.wait(TIMEOUT_S)
    assert run.exit_code == 1, describe(run)
    assert "already running" in run.stderr, describe(run)
    assert not marker.exists(), "the refused run loaded the app"
    assert alive(pids | agents) == pids | agents, "the refused run stopped processes of the first one"
    go.touch()
    ended = first.wait(TIMEOUT_S)
    assert ended.exit_code == 0, describe(ended)


@pytest.mark.e2e
def test_two_runs_of_the_same_app_started_together_cannot_both_run(launch, tmp_path: Path) -> None:
    """Two runs of one app file started at the same instant: one runs, the other is refused (an OS lock, not a
    check of the checkpoint)."""
    go = tmp_path / "go"
    runs = [launch("lifecycle.py", "--stop-grace", "2", env={"LC_GO": str(go), "LC_WORKS": "1"}) for _ in range(2)]
    refused = wait_until(lambda: next((r for r in runs if r.proc.poll() is not None), None), TIMEOUT_S,
                         what="one of the two runs to be refused")
    running = runs[1 - runs.index(refused)]
    ended = refused.wait(5)
    assert ended.exit_code == 1 and "already running" in ended.stderr, describe(ended)
    running.wait_for_line("root.w0 | pid=")
    go.touch()
    assert running.wait(TIMEOUT_S).exit_code == 0
