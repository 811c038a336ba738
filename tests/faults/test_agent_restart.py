"""An agent SIGKILLed over and over while its works stream: the works outlive it, the next agent (same --state-dir
and --name) re-adopts them, and the flow ends up with every event applied once, in order, and every output line
shown once."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.helpers.agents import AgentProcess
from tests.helpers.fault_cluster import FaultCluster, sigkill_and_reap
from tests.helpers.logs import adopted_works, session_log
from tests.helpers.processes import create_times, wait_alive
from tests.helpers.streams import (
    AGENT_ARGS,
    FAST,
    STREAMS,
    assert_lines_once,
    assert_streams_complete,
    final_lengths,
    knobs,
    reported,
)

KILLS = 10
WIDE = 8
"""Works of the re-adoption test: the more works, the wider the window in which works.json lists only some."""
MIN_STEPS = 100
"""The streams go on (a step every 20 ms) until the kills are over, and at least this long."""


@pytest.mark.fault
def test_agent_sigkilled_ten_times_loses_and_repeats_nothing(faults: FaultCluster, tmp_path: Path) -> None:
    """Ten SIGKILL+restart of the agent ~0.3-0.5 s apart during 3 streams: same pids, attempt 1, lists and lines
    exactly once."""
    rng = random.Random(1)
    stop_file = tmp_path / "stop-streaming"
    cp = faults.control_plane(STREAMS, *FAST, *knobs(MIN_STEPS, stop_file=stop_file))
    agent = faults.agent("a", *AGENT_ARGS, may_exit=True)
    pids = faults.work_pids_of(cp, 3)
    times = create_times(pids)
    for kill in range(KILLS):
        time.sleep(rng.uniform(0.3, 0.5))
        if kill == KILLS // 2:  # once at least, a killed agent had re-adopted every work (a loaded machine is slow)
            faults.wait_until(lambda a=agent: adopted_works(a) == set(pids), "an agent to re-adopt every work")
        sigkill_and_reap(agent)
        wait_alive(pids, times)  # the works never depend on their agent's life
        agent = faults.agent("a", *AGENT_ARGS, may_exit=True)
    agent.may_exit = False
    # The last agent re-adopts all three works (a work it does not know is lost for good: it keeps running and
    # knocking at the agent's socket, and the control plane never hears from it again).
    deadline = time.monotonic() + 15
    while adopted_works(agent) != set(pids) and time.monotonic() < deadline and agent.proc.poll() is None:
        time.sleep(0.05)
    assert adopted_works(agent) == set(pids), (
        f"the last agent adopted {sorted(adopted_works(agent))}, not all of {sorted(pids)}; "
        f"unknown_work_process_connected logged {len(agent.lines_with('unknown_work_process_connected'))} times; "
        "adopted by each agent in turn: " + ", ".join(str(sorted(adopted_works(a))) for a in faults.agents)
        + f"\n{session_log(cp, *faults.agents)}")
    stop_file.touch()
    run = faults.wait_app(40)
    assert run.exit_code == 0, f"exit {run.exit_code}\n{faults.output()}"
    finals = reported(cp.stdout_lines, "FINAL")
    assert finals, f"no FINAL report\n{faults.output()}"
    final = finals[0]
    assert_streams_complete(final, MIN_STEPS, 3, faults.output())
    assert final["pids"] == {name: [pid] for name, pid in pids.items()}, (
        f"a work ran in another process: {final['pids']} (first pids {pids})")
    assert not cp.lines_with("work_restarted") and not cp.lines_with("works_lost"), session_log(cp)
    assert_lines_once(cp.stdout_lines, final_lengths(final), session_log(cp, *faults.agents))
    relaying = [a for a in faults.agents[:-1] if adopted_works(a) == set(pids)]
    assert relaying, "no killed agent had re-adopted the works: the kills did not exercise re-adoption"


def _listed(works_json: Path) -> set[str] | None:
    """The works an agent's works.json lists (None while it cannot be read)."""
    try:
        return {w["launch"]["work_name"] for w in json.loads(works_json.read_text())["works"]}
    except (OSError, ValueError, KeyError):
        return None


def _kill_when_record_shrinks(agent: AgentProcess, works_json: Path, running: set[str], timeout_s: float) -> bool:
    """Spin on the agent's works.json; SIGKILL the agent the moment it lists only some of ``running``; whether it
    did (within ``timeout_s``)."""
    last = None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and agent.proc.poll() is None:
        try:
            stat = os.stat(works_json)
        except FileNotFoundError:
            continue
        if (stat.st_ino, stat.st_mtime_ns) == last:
            continue
        last = (stat.st_ino, stat.st_mtime_ns)
        listed = _listed(works_json)
        if listed is not None and listed < running:
            os.kill(agent.pid, signal.SIGKILL)
            return True
    return False


@pytest.mark.fault
def test_agent_killed_while_readopting_keeps_every_work(faults: FaultCluster, tmp_path: Path) -> None:
    """An agent SIGKILLed mid re-adoption (its works.json left listing only some of 8 running works): the next one
    still adopts all of them and the app completes."""
    stop_file = tmp_path / "stop-streaming"
    cp = faults.control_plane(STREAMS, *FAST, *knobs(10, works=WIDE, step_s=0.1, stop_file=stop_file))
    agent = faults.agent("a", *AGENT_ARGS, may_exit=True)
    pids = faults.work_pids_of(cp, WIDE)
    works_json = agent.state_dir / "a" / "works.json"
    left: set[str] | None = None
    for _ in range(6):  # the window is milliseconds wide: retry until a kill lands in it
        time.sleep(0.3)
        sigkill_and_reap(agent)
        agent = faults.agent("a", *AGENT_ARGS, may_exit=True)
        if _kill_when_record_shrinks(agent, works_json, set(pids), 10):
            wait_until(lambda agent=agent: agent.proc.poll() is not None, 5, what="the agent to die")
            left = _listed(works_json)
            if left is not None and left < set(pids):
                break
    if left is None or left == set(pids):
        return  # works.json never stayed short of a running work: nothing can be lost that way
    agent = faults.agent("a", *AGENT_ARGS)
    deadline = time.monotonic() + 6
    while adopted_works(agent) != set(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert adopted_works(agent) == set(pids), (
        f"killed while works.json listed only {sorted(left)}, the next agent adopted only "
        f"{sorted(adopted_works(agent))} of {sorted(pids)}: the others run on unknown to any agent "
        f"(unknown_work_process_connected logged {len(agent.lines_with('unknown_work_process_connected'))} times)")
    stop_file.touch()
    run = faults.wait_app(30)
    assert run.exit_code == 0, f"exit {run.exit_code}\n{faults.output()}"
    final = reported(cp.stdout_lines, "FINAL")[0]
    assert_streams_complete(final, 10, WIDE, faults.output())
    assert final["pids"] == {name: [pid] for name, pid in pids.items()}, final["pids"]
