"""Tests for what a starting agent does with the work processes its home records: a live one is adopted, one that
ended with its exit recorded is reported, one that left no trace (its machine restarted) is forgotten."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import psutil

from lightning_ctl.agent.daemon import AgentDaemon
from lightning_ctl.agent.home import AgentHome, WorkRecord
from lightning_ctl.sdk._events import LaunchWork


def ended_process() -> tuple[int, float]:
    """The pid and start time of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    create_time = psutil.Process(child.pid).create_time()
    child.wait()
    return child.pid, create_time


def record(name: str, pid: int, create_time: float) -> WorkRecord:
    return WorkRecord(LaunchWork(name, 1, "/apps/app.py", {}), pid=pid, create_time=create_time)


async def start_and_stop(home: AgentHome) -> dict:
    daemon = AgentDaemon(home)
    await daemon.start()
    try:
        adopted = {key: supervisor for key, supervisor in daemon.supervisors.items()}
        await asyncio.wait_for(asyncio.gather(*(s.exited.wait() for s in adopted.values())), 5.0)
        events = []
        while not daemon.outbox.queue.empty():
            events.append(daemon.outbox.queue.get_nowait())
        return {"adopted": sorted(adopted), "events": events}
    finally:
        await daemon.close()


def test_a_process_that_left_no_trace_is_not_adopted(tmp_path):
    """Gone without an exit status (a reboot): not adopted, no invented exit; one with a recorded exit is."""
    home = AgentHome(tmp_path / "home")
    gone_pid, gone_time = ended_process()
    exited_pid, exited_time = ended_process()
    (home.exits_dir / f"{exited_pid}.json").write_text(json.dumps({"returncode": 3}))
    home.save_records([record("root.gone", gone_pid, gone_time), record("root.exited", exited_pid, exited_time)])
    seen = asyncio.run(start_and_stop(home))
    assert seen["adopted"] == [("root.exited", 1)]
    assert len(seen["events"]) == 1 and b"root.exited" in seen["events"][0].payload
    assert [r.launch.work_name for r in home.load_records()] == []
