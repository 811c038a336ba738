"""End-to-end: every launch happens: many works at once all start, and a launch that cannot start fails its
work at once with the reason (after a retry), instead of leaving it pending for ever."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e import APPS
from tests.helpers.agents import Cluster


def describe(run) -> str:  # noqa: ANN001
    return f"exit {run.exit_code}\nstdout:\n{run.stdout[-3000:]}\nstderr:\n{run.stderr[-3000:]}"


@pytest.mark.e2e
def test_two_hundred_works_all_start(launch) -> None:
    """200 parallel works in one app: every one is launched and runs (concurrent launches never lose one on the
    fork server's socket), and the app ends by itself."""
    run = launch("many_works.py", "--stop-grace", "5").wait(240)
    assert run.exit_code == 0, describe(run)
    assert "ALL 200 WORKS RAN" in run.stdout, describe(run)


@pytest.mark.e2e
def test_a_launch_that_cannot_start_fails_its_work_with_the_reason(cluster: Cluster, tmp_path: Path) -> None:
    """The agent cannot create the work's capture files (its output folder turned into a file): the launch is
    retried, then the work fails at once naming the error, and the app (raise_exception) ends with status 1."""
    go = tmp_path / "go"
    cp = cluster.control_plane(APPS / "launch_on_go.py", "--env", f"LC_GO={go}")
    agent = cluster.agent("a", "--gpus", "none")
    cp.wait_for("agent_connected")
    output = agent.state_dir / "a" / "output"
    shutil.rmtree(output)
    output.write_text("not a folder any more\n")
    go.touch()
    run = cluster.wait_app(60)
    assert run.exit_code == 1, cluster.output()
    assert "could not start the work's process" in run.stderr and "Not a directory" in run.stderr, cluster.output()
    assert "work_launch_retried" in agent.stderr, agent.output()
