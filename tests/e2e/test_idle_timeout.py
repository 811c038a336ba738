"""End-to-end: ``CloudCompute(idle_timeout=S)`` (issue 8, point 5). A work idle S seconds (no call running, none
queued) has its process stopped, which frees its GPU for a work waiting for it; the flow sees it stopped with reason
``idle_timeout``; its next call starts a new process transparently."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import lines_of, reported
from tests.helpers.agents import Cluster

APPS = Path(__file__).resolve().parent / "apps_multi"
TIMEOUT_S = 40.0


def first_line(lines: list[str], *needles: str) -> int:
    """The index of the first line containing every needle (fails naming them)."""
    found = [i for i, line in enumerate(lines) if all(n in line for n in needles)]
    assert found, f"no line with {needles}:\n" + "\n".join(lines)
    return found[0]


@pytest.mark.e2e
def test_an_idle_work_frees_its_gpu_and_starts_again_on_its_next_call(cluster: Cluster) -> None:
    """On a 1-GPU agent: `a` runs, is stopped after 1 s idle (on_exit runs), `b` gets the GPU without the flow
    stopping `a`; the flow sees `a` stopped (idle_timeout) and calls it again: a new process runs that call."""
    cluster.control_plane(APPS / "idle_gpu.py")
    agent = cluster.agent("one-gpu", "--gpus", "0", "--cpus", "4")
    run = cluster.wait_app(TIMEOUT_S)
    assert run.exit_code == 0, cluster.output()
    done = reported(run.stdout, "DONE")
    first, second = done["a"]
    assert [first["round"], second["round"]] == [1, 2]
    assert first["pid"] != second["pid"], "the second call of a did not get a new process"
    assert first["cuda"] == second["cuda"] == done["b"][0]["cuda"] == "0"
    assert "its next call starts it again" in done["a_idle"]["message"], done["a_idle"]
    assert lines_of(run.stdout, "root.a")[:1] == ["on_exit after 1 run(s)"], run.stdout
    log = agent.stderr_lines
    a_stopped = first_line(log, "work_stopping", "work_name=root.a", "idle_timeout")
    a_exited = first_line(log, "work_process_exited", "work_name=root.a")
    b_spawned = first_line(log, "work_process_spawned", "work_name=root.b")
    a_again = first_line(log, "work_process_spawned", "attempt=2", "work_name=root.a")
    b_stopped = first_line(log, "work_stopping", "work_name=root.b", "idle_timeout")
    assert a_stopped < a_exited < b_spawned < b_stopped < a_again, agent.output()
    assert not [line for line in log if "work_stopping" in line and "stopped by the flow" in line]
