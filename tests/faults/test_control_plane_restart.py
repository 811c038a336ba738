"""The control plane SIGKILLed while works stream, then ``lightning-ctl run`` the same app again: it resumes from its
checkpoint on the same port, agents (a remote one, or the local agent the first lightning-ctl started) re-attach
the same work processes within 5 s, and the app carries on to a clean end with nothing lost or repeated."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

import pytest

from tests.helpers.agents import AgentProcess, ControlPlane
from tests.helpers.fault_cluster import FaultCluster, sigkill_and_reap
from tests.helpers.logs import log_field, session_log, timestamp
from tests.helpers.processes import create_times, wait_alive
from tests.helpers.streams import (
    AGENT_ARGS,
    FAST,
    STREAMS,
    assert_lines_across_crashes,
    assert_streams_complete,
    final_lengths,
    knobs,
    reported,
)

REATTACH_S = 5.0
"""Every agent re-attached within this long after the new control plane listens."""
DOWNTIMES_S = (0.5, 5.0)
"""How long the control plane stays dead, in turn."""


def checkpointed_counter(home: Path, app: Path) -> int:
    """The flow's ``counter`` in the app's checkpoint (what a resumed run starts from)."""
    digest = hashlib.sha256(os.path.abspath(app).encode()).hexdigest()[:16]
    db = sqlite3.connect(str(home / ".lightning-ctl" / "apps" / digest / "checkpoint.sqlite"))
    try:
        (value,) = db.execute("SELECT value FROM state WHERE component = '[]' AND part = 'vars.counter'").fetchone()
    finally:
        db.close()
    return int(json.loads(value))


def reattach_time(cp: ControlPlane, running: int, agents: list[AgentProcess], timeout_s: float = 15.0,
                  context: str = "") -> float:
    """Seconds from ``cp``'s control_plane_listening log line to the first agent_connected with ``running`` works
    (failing at once if one of ``agents`` ended)."""
    def connected() -> list[str] | None:
        lines = [line for line in cp.lines_with("agent_connected") if log_field(line, "running") == str(running)]
        return lines or None

    deadline = time.monotonic() + timeout_s
    while (lines := connected()) is None and time.monotonic() < deadline and cp.proc.poll() is None:
        ended = [a for a in agents if a.proc.poll() is not None]
        assert not ended, (f"agent {ended[0].name} exited (status {ended[0].proc.returncode}) when its control "
                           f"plane died, leaving its works unattended\n{session_log(*ended)}")
        time.sleep(0.02)
    assert lines, (f"no agent re-attached {running} works to the new control plane within {timeout_s}s\n"
                   f"{session_log(cp)}\n{cp.output()[-3000:]}\n{context}")
    return timestamp(lines[0]) - timestamp(cp.lines_with("control_plane_listening")[0])


@pytest.mark.fault
@pytest.mark.parametrize("agent_kind", ["remote", "local"])
def test_control_plane_sigkilled_twice_resumes_without_restarting_works(
    faults: FaultCluster, tmp_path: Path, agent_kind: str
) -> None:
    """SIGKILL lightning-ctl, rerun it after 0.5 s, then again after 5 s: same pids, re-attach <= 5 s, state
    continues, lists exactly once, no output line lost (at-least-once across a crash), exit 0."""
    stop_file = tmp_path / "stop-streaming"
    args = (*FAST, *knobs(50, stop_file=stop_file))

    def start() -> ControlPlane:
        if agent_kind == "local":
            return faults.local_control_plane(STREAMS, *args)
        return faults.control_plane(STREAMS, *args)

    cp = start()
    if agent_kind == "remote":
        faults.agent("a", *AGENT_ARGS)
    pids = faults.work_pids_of(cp, 3)
    times = create_times(pids)
    port = cp.port
    control_planes = [cp]
    reattached: list[float] = []
    checkpointed: list[int] = []
    for downtime_s in DOWNTIMES_S:
        time.sleep(1.0)  # streams and flow ticks go on under this control plane
        sigkill_and_reap(cp)
        checkpointed.append(checkpointed_counter(tmp_path / "home", STREAMS))
        time.sleep(downtime_s)
        wait_alive(pids, times, "\n".join(p.output()[-5000:] for p in control_planes))
        cp = start()
        control_planes.append(cp)
        assert cp.port == port, f"the resumed control plane listens on {cp.port}, not on {port} as before"
        resumed = cp.wait_for("app_resumed", timeout_s=15)[0]
        assert all(name in resumed for name in pids), f"not all works to re-attach: {resumed}"
        reattached.append(reattach_time(cp, running=3, agents=faults.agents, context="\n".join(
            p.output()[-3000:] for p in [*control_planes[:-1], *faults.agents])))
        boot = reported(cp.stdout_lines, "FLOW_BOOT") or [None]
        assert boot[0] is None or boot[0]["counter"] >= checkpointed[-1] > 0, (
            f"the flow restarted from counter {boot[0]}, below its checkpoint {checkpointed[-1]}")
        wait_alive(pids, times)
    print(f"{agent_kind}: re-attached {[round(t, 3) for t in reattached]} s after listening; checkpointed "
          f"counters {checkpointed}")
    stop_file.touch()
    run = faults.wait_app(40)
    everything = session_log(*control_planes, *faults.agents)
    assert run.exit_code == 0, f"exit {run.exit_code}\n{faults.output()[-6000:]}"
    assert all(t <= REATTACH_S for t in reattached), (
        f"re-attach took {[round(t, 2) for t in reattached]} s (limit {REATTACH_S} s)\n{everything}")
    boots = [reported(p.stdout_lines, "FLOW_BOOT")[0]["counter"] for p in control_planes[1:]]
    assert all(b >= c > 0 for b, c in zip(boots, checkpointed, strict=False)), (
        f"resumed flows started from counters {boots}, checkpoints held {checkpointed}")
    final = reported(cp.stdout_lines, "FINAL")[0]
    assert final["counter"] > checkpointed[-1], (final["counter"], checkpointed)
    assert_streams_complete(final, 50, 3, everything)
    assert final["pids"] == {name: [pid] for name, pid in pids.items()}, (
        f"a work ran in another process: {final['pids']} (first pids {pids})")
    for p in control_planes:
        assert not p.lines_with("work_restarted") and not p.lines_with("works_lost"), everything
    agent_ids = {log_field(line, "agent_id") for p in control_planes for line in p.lines_with("agent_connected")}
    assert len(agent_ids) == 1, f"works re-attached by other agents than the first one: {agent_ids}"
    assert_lines_across_crashes([p.stdout_lines for p in control_planes], final_lengths(final), everything)
