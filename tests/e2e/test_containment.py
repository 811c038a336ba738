"""End-to-end: stopping a work stops all of it, even the processes it started outside its process group
(``setsid``, a double-forked daemon), with a cgroup per work where the machine allows it and without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.helpers.processes import alive

TIMEOUT_S = 30.0
MODES = {"cgroups": {}, "no_cgroups": {"LIGHTNING_AGENT_NO_CGROUPS": "1"}}


def escaped_pids(process) -> set[int]:  # noqa: ANN001
    """The setsid child's and the daemon's pids, once the work has started both."""
    return {int(process.wait_for_line(f"root.w | {kind} pid=").rsplit("=", 1)[1]) for kind in ("setsid", "daemon")}


@pytest.mark.e2e
@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("end", ["work_stop", "app_end"])
def test_stopping_a_work_stops_what_it_started_outside_its_group(launch, tmp_path: Path, mode: str,
                                                                 end: str) -> None:
    """work.stop() and the app's end reach the setsid child and the daemon too: none survives."""
    go = tmp_path / "go"
    env = {**MODES[mode], "LC_GO": str(go), "LC_END": "app" if end == "app_end" else "work"}
    process = launch("escaping_children.py", "--stop-grace", "2", env=env)
    pids = escaped_pids(process)
    assert alive(pids) == pids
    go.touch()
    run = process.wait(TIMEOUT_S)
    assert run.exit_code == 0, f"exit {run.exit_code}\n{run.stdout}\n{run.stderr}"
    wait_until(lambda: not alive(pids), 10, what=f"the escaped processes {sorted(pids)} to be stopped")
