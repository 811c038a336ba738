"""Fault tests: real ``lightning-ctl`` / ``lightning-agent`` processes SIGKILLed, SIGSTOPped, partitioned and put
behind a lossy link (``tests.helpers.proxy``), judged by what the app reports, the logs and the process table.

Shared pieces: ``APPS`` (``apps/streams.py`` and its knobs), the ``faults`` fixture (a :class:`FaultCluster`: a
``tests.helpers.agents.Cluster`` that can also start control planes with their own local agent, records every
work pid it learns, and at teardown SIGCONTs and SIGKILLs every process it started, their descendants, the works
by pid and anything carrying the cluster's tag), and readers of reports, console lines and log timestamps.

Timers are short everywhere: ``--heartbeat-interval 0.3 --agent-lost-grace 2 --stop-grace 2`` unless a test is
about them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import psutil
import pytest

from tests.helpers import wait_until
from tests.helpers.agents import AgentProcess, CapturedProcess, Cluster, ControlPlane
from tests.helpers.processes import LIGHTNING_CTL

APPS = Path(__file__).resolve().parent / "apps"
STREAMS = APPS / "streams.py"
FAST = ("--heartbeat-interval", "0.3", "--agent-lost-grace", "2")
"""Short liveness timers (the cluster adds ``--stop-grace 2``)."""
AGENT_ARGS = ("--gpus", "none", "--cpus", "16")
"""Plain works ask for 1 CPU each: agents offer plenty."""

_STEP = re.compile(r"^(root\.\w+) \| STEP (\d+) (\d+)$")
_PID = re.compile(r"^(root\.\w+) \| PID (\d+)$")


def knobs(steps: int, works: int = 3, step_s: float = 0.02, restart: str = "never", calls: int = 0,
          stop_file: Path | None = None) -> tuple[str, ...]:
    """``--env`` arguments for ``apps/streams.py`` (with ``stop_file``, streams go on past ``steps`` until the test
    creates that file)."""
    values: dict[str, object] = {"FAULT_STEPS": steps, "FAULT_WORKS": works, "FAULT_STEP_S": step_s,
                                 "FAULT_RESTART": restart, "FAULT_CALLS": calls}
    if stop_file is not None:
        values["FAULT_STOP_FILE"] = stop_file
    return tuple(arg for name, value in values.items() for arg in ("--env", f"{name}={value}"))


class LocalControlPlane(ControlPlane):
    """``lightning-ctl run APP --log-level info`` with its own local agent (unlike :class:`ControlPlane`)."""

    def __init__(self, app_file: str | Path, *args: str, token: str, env: dict[str, str], cwd: str | Path) -> None:
        CapturedProcess.__init__(self, [LIGHTNING_CTL, "run", str(app_file), "--log-level", "info", "--token", token,
                                        *args], env, cwd)
        self._address = None


class FaultCluster(Cluster):
    """A :class:`Cluster` that also runs control planes with a local agent and tracks work processes by pid."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.work_pids: set[int] = set()

    def local_control_plane(self, app_file: str | Path, *args: str) -> LocalControlPlane:
        """Start ``lightning-ctl run app_file`` with its local agent (port 0 unless given, --stop-grace 2)."""
        if "--port" not in args:
            args = (*args, "--port", "0")
        if "--stop-grace" not in args:
            args = (*args, "--stop-grace", "2")
        process = LocalControlPlane(app_file, *args, token=self.token, env=self.env(), cwd=self.root)
        self.processes.append(process)
        self.control_planes.append(process)
        return process

    def work_pids_of(self, cp: ControlPlane, count: int, timeout_s: float = 20.0) -> dict[str, int]:
        """Wait until ``count`` works printed their pid on ``cp``'s console; {work name: pid} (recorded)."""
        def found() -> dict[str, int] | None:
            pids = console_pids(cp.stdout_lines)
            return pids if len(pids) >= count else None

        pids = self.wait_until(found, f"{count} works to print their pid", timeout_s)
        self.work_pids.update(pids.values())
        return pids

    def close(self) -> None:
        """SIGCONT whatever may be stopped, then kill everything (processes, descendants, works by pid, tag)."""
        for process in self.processes:
            process.record_pids()
        everyone = {pid for process in self.processes for pid in process.pids} | self.work_pids
        for pid in everyone:
            try:
                os.kill(pid, signal.SIGCONT)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in self.work_pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        super().close()


@pytest.fixture
def faults(tmp_path: Path) -> Iterator[FaultCluster]:
    """A :class:`FaultCluster` in ``tmp_path`` (HOME there too), everything killed after the test."""
    cluster = FaultCluster(tmp_path)
    try:
        yield cluster
    finally:
        cluster.close()


# -- reading what happened -------------------------------------------------------------------------------------------


def reported(lines: list[str], tag: str) -> list[Any]:
    """The JSON values of every line ``<tag> <json>`` in ``lines``."""
    return [json.loads(line[len(tag) + 1:]) for line in list(lines) if line.startswith(tag + " ")]


def console_pids(lines: list[str]) -> dict[str, int]:
    """{work name: pid} from the works' ``PID <pid>`` console lines (the last one per work)."""
    pids = {}
    for line in list(lines):
        if match := _PID.match(line):
            pids[match.group(1)] = int(match.group(2))
    return pids


def step_lines(lines: list[str]) -> dict[str, list[int]]:
    """{work name: the step numbers of its ``STEP i pid`` console lines, in the order they were shown}."""
    steps: dict[str, list[int]] = {}
    for line in lines:
        if match := _STEP.match(line):
            steps.setdefault(match.group(1), []).append(int(match.group(2)))
    return steps


def console_lines_with(lines: list[str], work: str, text: str) -> list[str]:
    """The console lines of ``work`` containing ``text``."""
    return [line for line in list(lines) if line.startswith(f"{work} | ") and text in line]


def timestamp(line: str) -> float:
    """Epoch seconds of a console log line's leading ISO timestamp."""
    return datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()


def log_field(line: str, name: str) -> str:
    """The value of ``name=value`` in a console log line (quotes stripped)."""
    match = re.search(rf"\b{name}=('[^']*'|\"[^\"]*\"|\S+)", line)
    return match.group(1).strip("'\"") if match else ""


def same_process(pid: int, create_time: float) -> bool:
    """Whether ``pid`` is still the process that started at ``create_time`` (and not a zombie)."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and abs(process.create_time() - create_time) < 0.01
    except psutil.NoSuchProcess:
        return False


def create_times(pids: dict[str, int]) -> dict[str, float]:
    """{work name: its process's create time}."""
    return {name: psutil.Process(pid).create_time() for name, pid in pids.items()}


def assert_streams_complete(final: dict[str, Any], min_steps: int, works: int, output: str = "") -> None:
    """Every work's final list as the flow saw it is exactly [1..n] with n >= ``min_steps``, and the flow never saw
    one that was not [1..k] or that shrank."""
    assert len(final["items"]) == works, final
    for name, items in final["items"].items():
        n = max(items, default=0)
        assert items == list(range(1, n + 1)) and n >= min_steps, (
            f"{name}: the flow's list is not [1..n] (n >= {min_steps}): len {len(items)}, max {n}, "
            f"missing {sorted(set(range(1, n + 1)) - set(items))[:10]}, "
            f"duplicates {sorted({i for i in items if items.count(i) > 1})[:10]}\n{output[-4000:]}")
    assert final["violations"] == [], f"the flow saw lists that were not [1..k] or shrank: {final['violations']}"


def assert_lines_once(lines: list[str], steps: dict[str, int], context: str = "") -> None:
    """Each work's ``STEP i`` console line was shown exactly once for every i in 1..steps[work] (``context``: more
    to show when it was not)."""
    seen = step_lines(lines)
    for work, n in steps.items():
        shown = seen.get(work, [])
        missing = sorted(set(range(1, n + 1)) - set(shown))
        duplicated = sorted({i for i in shown if shown.count(i) > 1})
        assert not missing and not duplicated and len(shown) == n, (
            f"{work}: STEP lines shown {len(shown)} times for {n} steps; missing {missing[:20]} "
            f"(of {len(missing)}), shown twice {duplicated[:20]} (of {len(duplicated)})\n{context}")


def assert_lines_across_crashes(per_process: list[list[str]], steps: dict[str, int], context: str = "") -> None:
    """Across control planes that crashed: every ``STEP i`` line shown (none lost), none twice by the same control
    plane, and repeats only of lines the dead one wrote just before it died (at most MAX_REPEATS_PER_CRASH each).

    A line written by a control plane that is then SIGKILLed before its acknowledgement reaches the agent is sent
    again to the next one: console output is at-least-once across a crash (application state is exactly-once).
    """
    for lines in per_process:
        for work, shown in step_lines(lines).items():
            twice = sorted({i for i in shown if shown.count(i) > 1})
            assert not twice, f"{work}: one control plane showed STEP lines {twice[:20]} twice\n{context}"
    everything = step_lines([line for lines in per_process for line in lines])
    crashes = len(per_process) - 1
    for work, n in steps.items():
        shown = everything.get(work, [])
        missing = sorted(set(range(1, n + 1)) - set(shown))
        repeats = len(shown) - len(set(shown))
        assert not missing, f"{work}: STEP lines {missing[:20]} (of {len(missing)}) were never shown\n{context}"
        assert repeats <= MAX_REPEATS_PER_CRASH * crashes, (
            f"{work}: {repeats} STEP lines shown again after {crashes} crashes\n{context}")


MAX_REPEATS_PER_CRASH = 20


def session_log(*processes: CapturedProcess) -> str:
    """The connection-related log lines of ``processes`` (for assertion messages)."""
    keys = ("agent_connected", "agent_disconnected", "stream_broken", "works_lost", "work_restarted",
            "control_plane_listening", "app_resumed", "work_process_adopted", "agent_stopped", "work_stopping",
            "Traceback", "Error")
    return "\n".join(line[:300] for p in processes for line in list(p.stderr_lines) if any(k in line for k in keys))


def final_lengths(final: dict[str, Any]) -> dict[str, int]:
    """{work name: how many steps it made} from a FINAL report."""
    return {name: len(items) for name, items in final["items"].items()}


def adopted_works(agent: AgentProcess) -> set[str]:
    """The works ``agent`` logged ``work_process_adopted`` for."""
    return {log_field(line, "work_name") for line in agent.lines_with("work_process_adopted")}


def wait_alive(pids: dict[str, int], times: dict[str, float], context: str = "") -> None:
    """Fail unless every work process is still the same process."""
    gone = {name: pid for name, pid in pids.items() if not same_process(pid, times[name])}
    assert not gone, f"work processes gone or replaced: {gone}\n{context}"


def sigkill_and_reap(agent: AgentProcess | ControlPlane, timeout_s: float = 5.0) -> None:
    """SIGKILL the process (only it) and wait until it is reaped."""
    agent.record_pids()
    agent.proc.send_signal(signal.SIGKILL)
    wait_until(lambda: agent.proc.poll() is not None, timeout_s, what=f"pid {agent.pid} to die")


def elapsed_since(start: float) -> float:
    """Seconds since ``start`` (time.monotonic())."""
    return time.monotonic() - start
