"""A whole-machine crash (the control plane, its local agent, the fork server and every work process SIGKILLed at
once, as a reboot would), then the same command again: it resumes the app from its checkpoint, starts the works
that were running in new processes (the interrupted call runs again, ``on_start`` runs again, the call's status
says why), and the app ends cleanly; with ``--fresh`` it starts over cleanly instead."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
from pathlib import Path

import psutil
import pytest

from tests.helpers import wait_until
from tests.helpers.agents import TAG_VAR
from tests.helpers.fault_cluster import FaultCluster, LocalControlPlane
from tests.helpers.streams import APPS, reported

REBOOT = APPS / "reboot.py"


def app_processes(cluster: FaultCluster) -> list[psutil.Process]:
    """Every process carrying the cluster's tag: control plane, agent, fork server, works."""
    found = []
    for process in psutil.process_iter(["pid"]):
        try:
            if process.environ().get(TAG_VAR) == cluster.tag and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found


def crash_machine(cluster: FaultCluster) -> None:
    """SIGKILL every process of the app at once and wait until none is left."""
    for process in app_processes(cluster):
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    wait_until(lambda: not app_processes(cluster), 10.0, what="every process of the app to die")


def lines(log: Path, prefix: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.startswith(prefix)] if log.exists() else []


def start(cluster: FaultCluster, root: Path, *args: str, idle_starts: int = 1) -> LocalControlPlane:
    env = {"REBOOT_LOG": str(root / "reboot.log"), "REBOOT_RELEASE": str(root / "release"),
           "REBOOT_IDLE_STARTS": str(idle_starts)}
    cp = LocalControlPlane(REBOOT, "--port", "0", "--stop-grace", "2", *args, token=cluster.token,
                           env=cluster.env(env), cwd=root)
    cluster.processes.append(cp)
    return cp


def checkpointed(cluster: FaultCluster) -> bool:
    """Whether the app's checkpoint (what a resume starts from) has the caller's process running its call and the
    idle work started once."""
    digest = hashlib.sha256(os.path.abspath(REBOOT).encode()).hexdigest()[:16]
    path = cluster.root / "home" / ".lightning-ctl" / "apps" / digest / "checkpoint.sqlite"
    if not path.exists():
        return False
    db = sqlite3.connect(str(path))
    try:
        caller = db.execute("SELECT record FROM works WHERE name = 'root.caller'").fetchone()
        starts = db.execute("""SELECT value FROM state WHERE component = '["works", "idle"]' AND part = 'vars.starts'""")
        starts = starts.fetchone()
    except sqlite3.OperationalError:
        return False
    finally:
        db.close()
    return caller is not None and json.loads(caller[0])["running_call"] is not None and starts == ("1",)


def run_until_crash(cluster: FaultCluster, root: Path) -> None:
    """Start the app, wait until the checkpoint has the call running and the idle work started, then crash the
    machine."""
    cp = start(cluster, root)
    wait_until(lambda: checkpointed(cluster), 30.0,
               what=f"the call to run and the idle work to start\n{cp.output()}")
    crash_machine(cluster)


@pytest.mark.fault
def test_after_a_machine_crash_the_same_command_resumes_and_relaunches_the_works(faults: FaultCluster,
                                                                                    tmp_path: Path) -> None:
    """Rerun after the crash: exit 0; the call ran again in a new process, both works' on_start ran again, and the
    call's status said it went back to pending because its process was gone when the app resumed."""
    run_until_crash(faults, tmp_path)
    (tmp_path / "release").touch()
    cp = start(faults, tmp_path, idle_starts=2)
    assert cp.wait_exit(60) == 0, cp.output()
    log = tmp_path / "reboot.log"
    runs, caller_starts, idle_starts = lines(log, "RUN caller"), lines(log, "START caller"), lines(log, "START idle")
    assert len(runs) == 2 and runs[0].split()[-1] != runs[1].split()[-1], runs
    assert len(caller_starts) == 2 and len(idle_starts) == 2, (caller_starts, idle_starts)
    (final,) = reported(cp.stdout_lines, "FINAL")
    assert any("was gone when its agent came back" in m and "the app resumed" in m for m in final["messages"]), final
    assert "app_resumed" in cp.stderr and "code 255" not in cp.output()


@pytest.mark.fault
def test_after_a_machine_crash_fresh_starts_over_cleanly(faults: FaultCluster, tmp_path: Path) -> None:
    """Rerun with --fresh after the crash: exit 0, the app ran from its start, nothing of the dead run interfered."""
    run_until_crash(faults, tmp_path)
    (tmp_path / "release").touch()
    cp = start(faults, tmp_path, "--fresh")
    assert cp.wait_exit(60) == 0, cp.output()
    (final,) = reported(cp.stdout_lines, "FINAL")
    assert final["messages"] == [], final
    assert len(lines(tmp_path / "reboot.log", "RUN caller")) == 2
    assert "app_resumed" not in cp.stderr and "code 255" not in cp.output()


@pytest.mark.fault
def test_fresh_after_a_control_plane_crash_never_mixes_the_old_works_with_the_new(faults: FaultCluster,
                                                                                   tmp_path: Path) -> None:
    """Only the control plane killed, its local agent keeping the old works: --fresh starts new attempts (numbered
    past the old ones, so the old processes, stopped as not placed by this run, are never taken for the new ones)."""
    cp = start(faults, tmp_path)
    log = tmp_path / "reboot.log"
    wait_until(lambda: lines(log, "RUN caller") and lines(log, "START idle"), 30.0, what=f"the call\n{cp.output()}")
    cp.proc.send_signal(signal.SIGKILL)
    cp.wait_exit(10)
    (tmp_path / "release").touch()
    fresh = start(faults, tmp_path, "--fresh")
    assert fresh.wait_exit(60) == 0, fresh.output()
    (final,) = reported(fresh.stdout_lines, "FINAL")
    assert final["messages"] == [], final
    runs = lines(log, "RUN caller")
    assert len(runs) == 2 and runs[0].split()[-1] != runs[1].split()[-1], runs
