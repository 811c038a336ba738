"""Hung agents and network partitions: a SIGSTOPped agent (its connection open but silent) and an agent cut off by
the proxy are noticed through missed heartbeats; within the grace period nothing moves, past it a work with
RestartPolicy.on_failure moves to another agent and its stale copy is stopped once the partition heals; a lone
agent (1 of 1 disconnected: more than half) never gets its works declared lost."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers.agents import AgentProcess, ControlPlane
from tests.helpers.fault_cluster import FaultCluster
from tests.helpers.logs import log_field, session_log, timestamp
from tests.helpers.processes import create_times, same_process, wait_alive
from tests.helpers.proxy import TcpProxy
from tests.helpers.streams import (
    AGENT_ARGS,
    STREAMS,
    assert_streams_complete,
    console_pids,
    knobs,
    reported,
    step_lines,
)

HEARTBEAT = ("--heartbeat-interval", "0.3")
FAST_DETECTION_S = 3.0
"""With 0.3 s heartbeats an agent is dropped after 0.9 s of silence (checked every 0.15 s): ~1 s, this at most."""
DEFAULT_DETECTION_S = 10.0
"""With the default 2 s heartbeats: 6-7 s expected, 10 s at most."""


def disconnected_lines(cp: ControlPlane, name: str) -> list[str]:
    """``agent_disconnected`` log lines of the agent called ``name``."""
    return [line for line in cp.lines_with("agent_disconnected") if log_field(line, "name") == name]


def connected_lines(cp: ControlPlane, name: str) -> list[str]:
    """``agent_connected`` log lines of the agent called ``name``."""
    return [line for line in cp.lines_with("agent_connected") if log_field(line, "name") == name]


def detection_time(faults: FaultCluster, cp: ControlPlane, name: str, since_wall: float, timeout_s: float) -> float:
    """Seconds from ``since_wall`` (time.time()) to the next ``agent_disconnected`` of ``name`` (its log time)."""
    before = len(disconnected_lines(cp, name))
    faults.wait_until(lambda: len(disconnected_lines(cp, name)) > before, f"agent_disconnected name={name}",
                      timeout_s + 2)
    return timestamp(disconnected_lines(cp, name)[before]) - since_wall


def wait_reconnected(faults: FaultCluster, cp: ControlPlane, name: str, count: int, timeout_s: float = 15) -> None:
    """Wait until ``name`` has connected ``count`` times (failing at once if that agent's process ended)."""
    agent = next(a for a in faults.agents if a.name == name)

    def connected() -> bool:
        if agent.proc.poll() is not None:
            raise AssertionError(f"agent {name} exited (status {agent.proc.returncode}) instead of reconnecting\n"
                                 f"{session_log(cp, *faults.agents)}")
        return len(connected_lines(cp, name)) >= count

    faults.wait_until(connected, f"{name} to connect {count} times", timeout_s)


def steps_shown(cp: ControlPlane, work: str = "root.w0", pid: int | None = None) -> int:
    """How many ``STEP`` lines ``work`` has shown on ``cp``'s console (only those of process ``pid``, if given)."""
    if pid is None:
        return len(step_lines(list(cp.stdout_lines)).get(work, []))
    return sum(1 for line in list(cp.stdout_lines) if line.startswith(f"{work} | STEP ") and line.endswith(f" {pid}"))


def wait_streaming(faults: FaultCluster, cp: ControlPlane, pid: int | None = None, steps: int = 3) -> None:
    """Wait until the work has shown ``steps`` more ``STEP`` lines (of process ``pid``, if given): its events flow
    through its agent to the flows, the steady state a fault then breaks."""
    before = steps_shown(cp, pid=pid)
    faults.wait_until(lambda: steps_shown(cp, pid=pid) >= before + steps,
                      f"{steps} more STEP lines of root.w0{f' (pid {pid})' if pid else ''}", 15)


def hold_until(wall_time: float) -> None:
    """Let a fault last until ``wall_time`` (time.time()): a duration the test is about, computed from what was
    observed, not a settle delay."""
    time.sleep(max(0.0, wall_time - time.time()))


def nothing_moved(cp: ControlPlane) -> None:
    """No work was declared lost or restarted."""
    assert not cp.lines_with("works_lost") and not cp.lines_with("work_restarted"), session_log(cp)


def finish(faults: FaultCluster, cp: ControlPlane, stop_file: Path, min_steps: int, works: int) -> dict:
    """Let the streams end, wait for exit 0; the FINAL report (lists checked)."""
    stop_file.touch()
    run = faults.wait_app(30)
    assert run.exit_code == 0, f"exit {run.exit_code}\n{faults.output()[-6000:]}"
    final = reported(cp.stdout_lines, "FINAL")[0]
    assert_streams_complete(final, min_steps, works, session_log(cp, *faults.agents))
    return final


def agent_with_work(faults: FaultCluster, cp: ControlPlane,
                    control_plane: str | None = None) -> tuple[AgentProcess, int]:
    """Start agent "a" alone (so the one work lands there), wait for the work's pid; then agent "b" next to it."""
    a = faults.agent("a", *AGENT_ARGS, control_plane=control_plane or cp.loopback_address)
    pid = faults.work_pids_of(cp, 1)["root.w0"]
    faults.agent("b", *AGENT_ARGS, control_plane=cp.loopback_address)
    wait_reconnected(faults, cp, "b", 1)
    return a, pid


@pytest.mark.fault
def test_sigstopped_agent_is_dropped_in_about_a_second_and_nothing_moves_within_grace(
    faults: FaultCluster, tmp_path: Path
) -> None:
    """SIGSTOP the work's agent (heartbeat 0.3 s, grace 5 s, a second agent, on_failure): dropped ~1 s later;
    SIGCONT at 3 s: nothing lost or restarted, the same pid finishes."""
    stop_file = tmp_path / "stop-streaming"
    cp = faults.control_plane(STREAMS, *HEARTBEAT, "--agent-lost-grace", "5",
                              *knobs(30, works=1, restart="on_failure", stop_file=stop_file))
    a, pid = agent_with_work(faults, cp)
    created = psutil.Process(pid).create_time()
    wait_streaming(faults, cp)
    stopped_at = time.time()
    os.kill(a.pid, signal.SIGSTOP)
    try:
        detected_s = detection_time(faults, cp, "a", stopped_at, FAST_DETECTION_S)
        print(f"SIGSTOP detected after {detected_s:.2f} s (heartbeat 0.3 s)")
        assert detected_s <= FAST_DETECTION_S, f"a frozen agent was dropped only after {detected_s:.2f} s"
        hold_until(stopped_at + 3.0)  # frozen for 3 s in all: within the 5 s grace
    finally:
        os.kill(a.pid, signal.SIGCONT)
    wait_reconnected(faults, cp, "a", 2)
    assert same_process(pid, created), "the work's process did not survive its agent's freeze"
    final = finish(faults, cp, stop_file, 30, 1)
    nothing_moved(cp)
    assert final["pids"] == {"root.w0": [pid]}, final["pids"]


@pytest.mark.fault
def test_sigstopped_agent_is_dropped_within_ten_seconds_with_the_default_heartbeat(
    faults: FaultCluster, tmp_path: Path
) -> None:
    """SIGSTOP the only agent with the default 2 s heartbeat: agent_disconnected within 10 s; after SIGCONT it
    re-attaches and the same process finishes."""
    stop_file = tmp_path / "stop-streaming"
    cp = faults.control_plane(STREAMS, *knobs(30, works=1, stop_file=stop_file))
    a = faults.agent("a", *AGENT_ARGS)
    pid = faults.work_pids_of(cp, 1)["root.w0"]
    created = psutil.Process(pid).create_time()
    wait_streaming(faults, cp)
    stopped_at = time.time()
    os.kill(a.pid, signal.SIGSTOP)
    try:
        detected_s = detection_time(faults, cp, "a", stopped_at, DEFAULT_DETECTION_S)
        print(f"SIGSTOP detected after {detected_s:.2f} s (default heartbeat)")
        assert detected_s <= DEFAULT_DETECTION_S, f"a frozen agent was dropped only after {detected_s:.2f} s"
    finally:
        os.kill(a.pid, signal.SIGCONT)
    wait_reconnected(faults, cp, "a", 2)
    assert same_process(pid, created)
    final = finish(faults, cp, stop_file, 30, 1)
    nothing_moved(cp)
    assert final["pids"] == {"root.w0": [pid]}, final["pids"]


@pytest.mark.fault
def test_partition_past_grace_moves_the_work_and_heal_stops_the_stale_copy(
    faults: FaultCluster, tmp_path: Path
) -> None:
    """Partition the work's agent (proxy, hold) past the 2 s grace: attempt 2 runs on the other agent; on heal the
    stale copy is stopped ('a newer attempt replaced it') and never runs alongside the new one for long."""
    stop_file = tmp_path / "stop-streaming"
    cp = faults.control_plane(STREAMS, *HEARTBEAT, "--agent-lost-grace", "2",
                              *knobs(30, works=1, restart="on_failure", stop_file=stop_file))
    with TcpProxy(cp.port, seed=3) as proxy:
        a, stale = agent_with_work(faults, cp, control_plane=proxy.address)
        stale_created = psutil.Process(stale).create_time()
        wait_streaming(faults, cp)
        partitioned_at = time.time()
        proxy.partition("hold")
        detected_s = detection_time(faults, cp, "a", partitioned_at, FAST_DETECTION_S)
        faults.wait_until(lambda: cp.lines_with("work_restarted"), "work_restarted", 10)
        lost_at = timestamp(cp.lines_with("works_lost")[0]) if cp.lines_with("works_lost") else None
        restarted = cp.lines_with("work_restarted")[0]
        assert log_field(restarted, "attempt") == "2", restarted
        assert lost_at is not None and lost_at - partitioned_at >= 2.0, (
            f"works declared lost {lost_at and lost_at - partitioned_at} s into the partition (grace 2 s)")
        b = next(agent for agent in faults.agents if agent.name == "b")
        fresh = faults.wait_until(lambda: {p for p in console_pids(cp.stdout_lines).values() if p != stale},
                                  "the new attempt's pid", 10)
        fresh_pid = fresh.pop()
        faults.work_pids.add(fresh_pid)
        assert b.lines_with("work_process_spawned") and str(fresh_pid) in b.lines_with("work_process_spawned")[-1], (
            f"attempt 2 (pid {fresh_pid}) did not start on agent b\n{session_log(cp, *faults.agents)}")
        wait_streaming(faults, cp, pid=fresh_pid)  # attempt 2 runs while the stale copy is still cut off
        healed_at = time.monotonic()
        proxy.heal()
        a.wait_for("a newer attempt replaced it", timeout_s=10)
        faults.wait_until(lambda: not same_process(stale, stale_created), "the stale copy to exit", 5)
        stale_gone_s = time.monotonic() - healed_at
        print(f"partition: dropped after {detected_s:.2f} s, stale copy gone {stale_gone_s:.2f} s after heal")
        # From now on only the new attempt's process runs the work: it goes on streaming, the stale copy stays gone.
        wait_streaming(faults, cp, pid=fresh_pid)
        assert not same_process(stale, stale_created) and psutil.pid_exists(fresh_pid)
        final = finish(faults, cp, stop_file, 30, 1)
    assert final["pids"] == {"root.w0": [stale, fresh_pid]}, final["pids"]
    assert len(cp.lines_with("work_restarted")) == 1, session_log(cp)


@pytest.mark.fault
def test_lone_agent_partitioned_past_grace_keeps_its_works(faults: FaultCluster, tmp_path: Path) -> None:
    """The only agent partitioned for twice the grace (1 of 1 disconnected: more than half): nothing declared lost
    or restarted; on heal it re-attaches and the same processes finish."""
    stop_file = tmp_path / "stop-streaming"
    cp = faults.control_plane(STREAMS, *HEARTBEAT, "--agent-lost-grace", "2",
                              *knobs(30, works=2, restart="on_failure", stop_file=stop_file))
    with TcpProxy(cp.port, seed=4) as proxy:
        faults.agent("a", *AGENT_ARGS, control_plane=proxy.address)
        pids = faults.work_pids_of(cp, 2)
        times = create_times(pids)
        proxy.partition("hold")
        faults.wait_until(lambda: disconnected_lines(cp, "a"), "agent_disconnected", 5)
        hold_until(timestamp(disconnected_lines(cp, "a")[0]) + 4.0)  # disconnected for twice the 2 s grace
        nothing_moved(cp)
        wait_alive(pids, times)
        proxy.heal()
        wait_reconnected(faults, cp, "a", 2)
        final = finish(faults, cp, stop_file, 30, 2)
    nothing_moved(cp)
    assert final["pids"] == {name: [pid] for name, pid in pids.items()}, final["pids"]
