"""End-to-end: starting and stopping are prompt and predictable, and nothing internal reaches the console.

A run loads its app before it listens or records anything (a failed load leaves nothing to resume); a second
Ctrl-C kills the works still running and names them; a run whose agents are gone ends within its grace period,
naming the works it could not reach; a flow that never returns still ends on a second stop request; works whose
agent never comes back are stopped by its fork server after the orphan timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import psutil
import pytest

from tests.e2e import APPS
from tests.helpers import free_port, wait_until
from tests.helpers.agents import Cluster
from tests.helpers.processes import LIGHTNING_CTL, alive

TIMEOUT_S = 30.0
LONG_GRACE = ("--stop-grace", "120")
"""A grace period no test waits for: a run that waits for it fails by its deadline instead."""
HANGS = {"LC_WORKS": "1", "LC_FLOW_HANGS": "1"}
"""apps/lifecycle.py with a flow that never returns once its work runs."""


def describe(run) -> str:  # noqa: ANN001
    return f"exit {run.exit_code}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"


def pids_of(process, count: int) -> set[int]:  # noqa: ANN001
    """The pids the first ``count`` works of apps/lifecycle.py printed."""
    return {int(process.wait_for_line(f"root.w{i} | pid=").rsplit("=", 1)[1]) for i in range(count)}


def assert_gone(pids: set[int], timeout_s: float = 15.0) -> None:
    wait_until(lambda: not alive(pids), timeout_s, what=f"processes {sorted(pids)} to be gone")


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.e2e
def test_works_dying_abruptly_print_no_internal_traceback(launch) -> None:
    """Works SIGKILLed with their agent's messages in flight: the app carries on and ends, and nothing but the
    app's output reaches the console (the shared helpers fail the run on any traceback of ours)."""
    run = launch("dying_works.py", "--stop-grace", "2").wait(TIMEOUT_S)
    assert run.exit_code == 0, describe(run)
    assert "ALL DIED" in run.stdout


@pytest.mark.e2e
def test_ctrl_c_during_a_slow_app_import_ends_the_run_at_once(launch, tmp_path: Path) -> None:
    """The app is imported off the event loop: Ctrl-C while it loads ends the run (exit 130), and nothing listened
    while it loaded."""
    marker = tmp_path / "loading"
    port = str(free_port())
    process = launch("lifecycle.py", "--port", port, env={"LC_MARKER": str(marker), "LC_IMPORT_SLEEP": "600"})
    wait_until(marker.exists, TIMEOUT_S, what="the app to start loading")
    assert not listening(int(port)), "the control plane listened before its app had loaded"
    process.signal(signal.SIGINT)
    run = process.wait(TIMEOUT_S)
    assert run.exit_code == 130, describe(run)
    assert "interrupted" in run.stderr, describe(run)


@pytest.mark.e2e
def test_a_run_that_failed_to_load_leaves_nothing_to_resume(launch, tmp_path: Path) -> None:
    """An app whose import fails exits 1 having recorded nothing: the next run starts fresh, it does not resume."""
    refuse = tmp_path / "refuse"
    refuse.touch()
    env = {"LC_IMPORT_FAIL": str(refuse), "LC_GO": str(tmp_path / "go"), "LC_WORKS": "1"}
    failed = launch("lifecycle.py", "--stop-grace", "2", "--log-level", "info", env=env).wait(TIMEOUT_S)
    assert failed.exit_code == 1 and "the app refuses to load" in failed.stderr, describe(failed)
    assert "control_plane_listening" not in failed.stderr, describe(failed)
    refuse.unlink()
    second = launch("lifecycle.py", "--stop-grace", "2", "--log-level", "info", env=env)
    second.wait_for_line("root.w0 | pid=")
    (tmp_path / "go").touch()
    run = second.wait(TIMEOUT_S)
    assert run.exit_code == 0, describe(run)
    assert "app_resumed" not in run.stderr, describe(run)


@pytest.mark.e2e
def test_a_second_ctrl_c_kills_the_works_at_once_and_names_them(launch) -> None:
    """Works ignoring SIGTERM with a long grace period: the second Ctrl-C kills them now, says which, and the run
    ends with 130."""
    process = launch("lifecycle.py", *LONG_GRACE, env={"LC_IGNORE_SIGTERM": "1"})
    pids = pids_of(process, 2)
    process.signal(signal.SIGINT)
    wait_until(lambda: len([line for line in process.stdout_lines if "ignoring SIGTERM" in line]) >= 2, TIMEOUT_S,
               what="both works to get (and ignore) SIGTERM")
    process.signal(signal.SIGINT)
    run = process.wait(TIMEOUT_S)
    assert run.exit_code == 130, describe(run)
    killed = next((line for line in run.stderr.splitlines() if "works_killed" in line), "")
    assert "root.w0" in killed and "root.w1" in killed, describe(run)
    assert_gone(pids)


@pytest.mark.e2e
def test_a_flow_that_never_returns_still_ends_on_a_second_stop(launch) -> None:
    """A flow stuck in its run(): the first SIGTERM cannot reach it, the second kills the works and ends the run."""
    process = launch("lifecycle.py", *LONG_GRACE, "--log-level", "info", env=HANGS)
    pid = int(process.wait_for_line("root.w0 | pid=").rsplit("=", 1)[1])
    process.wait_for_line("the flow hangs now")
    process.signal(signal.SIGTERM)
    # Two signals sent at once may reach the process as one: the second goes once the first was taken.
    wait_until(lambda: any("app_stopping" in line for line in process.stderr_lines), TIMEOUT_S,
               what="the first SIGTERM to be taken")
    process.signal(signal.SIGTERM)
    run = process.wait(TIMEOUT_S)
    assert run.exit_code == 143, describe(run)
    assert_gone({pid})


@pytest.mark.e2e
def test_lightning_ctl_stop_twice_ends_a_flow_that_never_returns(launch, tmp_path: Path) -> None:
    """``lightning-ctl stop`` works like a signal: a second one ends the app even when a flow never returns."""
    home = tmp_path / "home"
    process = launch("lifecycle.py", *LONG_GRACE, env={"HOME": str(home), **HANGS})
    process.wait_for_line("the flow hangs now")
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    for _ in range(2):
        subprocess.run([LIGHTNING_CTL, "stop", "--no-wait"], env=env, capture_output=True, timeout=TIMEOUT_S)
    run = process.wait(TIMEOUT_S)
    assert run.exit_code == 0, describe(run)


@pytest.mark.e2e
def test_with_its_agent_gone_a_run_stops_in_time_and_names_the_unreachable_works(cluster: Cluster) -> None:
    """The only agent SIGKILLed (its works run on): SIGTERM ends the run without waiting out the grace period, and
    the log names the works it could not reach."""
    cp = cluster.control_plane(APPS / "lifecycle.py", "--agent-lost-grace", "600", *LONG_GRACE, stop_grace=None)
    agent = cluster.agent("a", "--gpus", "none", may_exit=True)
    pids_of(cp, 2)
    agent.proc.kill()
    cp.wait_for("agent_disconnected")
    cp.signal(signal.SIGTERM)
    run = cluster.wait_app(TIMEOUT_S)
    assert run.exit_code == 143, cluster.output()
    unreached = next((line for line in run.stderr.splitlines() if "works_not_reached" in line), "")
    assert "root.w0" in unreached and "root.w1" in unreached, cluster.output()


@pytest.mark.e2e
def test_works_of_a_remote_agent_that_never_comes_back_end_after_the_orphan_timeout(cluster: Cluster) -> None:
    """A remote agent SIGKILLed: its fork server stops its works after --orphan-timeout and says so in the agent's
    log."""
    cp = cluster.control_plane(APPS / "lifecycle.py", "--agent-lost-grace", "600")
    agent = cluster.agent("a", "--gpus", "none", "--orphan-timeout", "2", "--stop-grace", "1", may_exit=True)
    pids = pids_of(cp, 2)
    agent.proc.kill()
    assert_gone(pids, TIMEOUT_S)
    agent.wait_for("orphaned_works_stopped", timeout_s=TIMEOUT_S)
    assert "no agent came back" in agent.stderr, agent.output()


@pytest.mark.e2e
def test_works_of_a_local_agent_that_never_comes_back_end_after_the_orphan_timeout(launch) -> None:
    """The same for the local agent of ``lightning-ctl run``: its works end after the orphan timeout; the run then
    ends at once on SIGTERM, naming them as not reached."""
    process = launch("lifecycle.py", "--agent-lost-grace", "600", *LONG_GRACE,
                     env={"LIGHTNING_AGENT_ORPHAN_TIMEOUT": "2"})
    pids = pids_of(process, 2)
    local_agent = next(p for p in process.record_pids() - pids - {process.proc.pid} if _is_agent(p))
    os.kill(local_agent, signal.SIGKILL)
    assert_gone(pids, TIMEOUT_S)
    process.signal(signal.SIGTERM)
    run = process.wait(TIMEOUT_S)
    assert run.exit_code == 143, describe(run)
    assert "orphaned_works_stopped" in run.stderr, describe(run)


def _is_agent(pid: int) -> bool:
    """Whether ``pid`` is a lightning-agent (not its fork server)."""
    try:
        command = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False
    return "lightning_ctl.agent" in command and "runner" not in command
