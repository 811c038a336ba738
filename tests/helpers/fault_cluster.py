"""A cluster for fault tests: control planes with their own local agent, work processes tracked by pid, and a
teardown that SIGCONTs and SIGKILLs everything it started.

    def test_x(faults):                                    # the fixture (registered in tests/conftest.py)
        cp = faults.control_plane(STREAMS, *knobs(30))     # a tests.helpers.agents.Cluster control plane
        faults.agent("a", *AGENT_ARGS)
        pids = faults.work_pids_of(cp, 3)                  # {work name: pid}, killed by pid at teardown
        sigkill_and_reap(cp)

Timers are short everywhere: ``--heartbeat-interval 0.3 --agent-lost-grace 2 --stop-grace 2`` unless a test is
about them.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers import wait_until
from tests.helpers.agents import AgentProcess, CapturedProcess, Cluster, ControlPlane
from tests.helpers.processes import LIGHTNING_CTL
from tests.helpers.streams import console_pids


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
    with FaultCluster(tmp_path) as cluster:
        yield cluster


def sigkill_and_reap(process: AgentProcess | ControlPlane, timeout_s: float = 5.0) -> None:
    """SIGKILL the process (only it) and wait until it is reaped."""
    process.record_pids()
    process.proc.send_signal(signal.SIGKILL)
    wait_until(lambda: process.proc.poll() is not None, timeout_s, what=f"pid {process.pid} to die")
