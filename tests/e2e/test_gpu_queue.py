"""End-to-end: works that wait for a GPU never block the others (issue 8, point 1).

A control plane without a local agent and ``lightning-agent`` processes declaring one GPU each; 1-GPU works made in
the flow's ``__init__`` (started with the flow or not) or in its ``run()``, more of them than GPUs. At most one work
per GPU runs at a time, every work runs as soon as a GPU frees up (the flow stops each finished work), works that
wait say why, and the app ends by itself. The first case is the one a new user hit: two agents started on one
machine without ``--name``, which used to share one identity and hang the app.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import reported
from tests.helpers.agents import Cluster

APPS = Path(__file__).resolve().parent / "apps_multi"
TIMEOUT_S = 40.0


def run_queue(cluster: Cluster, *, early: int, late: int = 0, start_with_flow: bool = True,
              second_agent_late: bool = False, own_homes: bool = True) -> dict:
    """Run apps_multi/gpu_queue.py on two 1-GPU agents; what it reported at the end (``DONE``)."""
    settings = {"QUEUE_EARLY": early, "QUEUE_LATE": late, "QUEUE_START_WITH_FLOW": int(start_with_flow)}
    env_args = [arg for name, value in settings.items() for arg in ("--env", f"{name}={value}")]
    cp = cluster.control_plane(APPS / "gpu_queue.py", *env_args)
    cluster.agent("a", "--gpus", "0", "--cpus", "4", own_home=own_homes)
    if second_agent_late:
        # Every work but one waits for the only GPU; the second agent joins while they do.
        cp.wait_for_line("PENDING ", timeout_s=TIMEOUT_S)
    cluster.agent("b", "--gpus", "1", "--cpus", "4", own_home=own_homes)
    run = cluster.wait_app(TIMEOUT_S)
    assert run.exit_code == 0, f"exit {run.exit_code}\n{cluster.output()}"
    done = reported(run.stdout, "DONE")
    facts = done["facts"]
    assert len(facts) == early + late and all(facts.values()), f"a work never ran: {facts}\n{cluster.output()}"
    for name in facts:
        runs = [line for line in run.stdout.splitlines() if line.startswith(f"{name} | FACTS ")]
        assert len(runs) == 1, f"{name} ran {len(runs)} times\n{run.stdout}"
    assert_one_work_per_gpu(facts)
    return done


def waited_for_gpu(done: dict) -> list[str]:
    """The works that were pending with a message naming GPUs (not only: no agent yet, code being prepared)."""
    return sorted(name for name, messages in done["pending"].items() if any("GPU" in m for m in messages))


def assert_one_work_per_gpu(facts: dict) -> None:
    """No two works held the same GPU at once; each saw exactly one GPU."""
    by_gpu: dict[str, list[tuple[float, float]]] = {}
    for name, item in facts.items():
        assert item["cuda"] in ("0", "1"), f"{name} saw CUDA_VISIBLE_DEVICES={item['cuda']!r}"
        by_gpu.setdefault(item["cuda"], []).append((item["started"], item["ended"]))
    for gpu, spans in by_gpu.items():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end, f"two works held GPU {gpu} at once: {spans}"


def overlapped(facts: dict, first: str, second: str) -> bool:
    return max(facts[first]["started"], facts[second]["started"]) < min(facts[first]["ended"], facts[second]["ended"])


@pytest.mark.e2e
def test_three_gpu_works_on_two_agents_of_one_machine(cluster: Cluster) -> None:
    """Three 1-GPU works, two agents started without --name (GPU 0, GPU 1): two run at once, one per agent, the
    third waits saying why and runs when a GPU frees, the app ends by itself."""
    done = run_queue(cluster, early=3, own_homes=False)
    facts = done["facts"]
    names = sorted(facts, key=lambda name: facts[name]["started"])
    assert overlapped(facts, names[0], names[1]), f"the first two works did not run at once: {facts}"
    assert facts[names[2]]["started"] >= min(facts[names[0]]["ended"], facts[names[1]]["ended"])
    # The last one waited for a GPU (another may have too, briefly, if one agent joined before the other).
    assert names[2] in waited_for_gpu(done), done["pending"]
    cp = cluster.control_planes[-1]
    connected = {line.split("name=")[1].split()[0] for line in cp.lines_with("agent_connected")}
    assert len(connected) == 2, f"the two agents did not get two identities: {connected}"


@pytest.mark.e2e
@pytest.mark.parametrize(("early", "late", "start_with_flow"), [
    (4, 0, True),
    (4, 0, False),
    (1, 3, True),
    (0, 4, False),
], ids=["started-with-flow", "started-on-call", "some-made-in-run", "all-made-in-run"])
def test_pending_works_run_when_an_agent_joins_and_as_gpus_free(cluster: Cluster, early: int, late: int,
                                                                start_with_flow: bool) -> None:
    """Four 1-GPU works, one 1-GPU agent at first: three wait; a second agent joins and takes one at once; the
    rest run as GPUs free; each work runs once and no GPU is held twice."""
    done = run_queue(cluster, early=early, late=late, start_with_flow=start_with_flow, second_agent_late=True)
    assert len(waited_for_gpu(done)) >= 2, f"works did not wait for a GPU: {done['pending']}"
