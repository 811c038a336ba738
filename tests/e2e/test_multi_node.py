"""End-to-end: MultiNode gangs on several ``lightning-agent`` processes joining a control plane on loopback.

The nodes meet through a plain TCP all-reduce (``apps_gang/gang_common.py``): each sends its rank to node 0 at the
``main_address``/``main_port`` it was called with, node 0 answers everyone with the sum. Where a node ran is read
from its cwd (a code bundle its agent unpacked). Agents declare one GPU each (``--gpus 0``, no driver needed), and
the nodes ask for ``CloudCompute("gpu")``, so that gangs compete for agents as GPU jobs do.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
from pathlib import Path

import pytest

from tests.e2e import reported
from tests.helpers.agents import AgentProcess, Cluster

APPS = Path(__file__).resolve().parent / "apps_gang"
TIMEOUT_S = 60.0
ONE_GPU = ("--gpus", "0", "--cpus", "16")


def gang_agents(cluster: Cluster, count: int) -> list[AgentProcess]:
    return [cluster.agent(f"node-{index}", *ONE_GPU) for index in range(count)]


def running(lines: list[str]) -> list[dict]:
    """The RUNNING facts of the nodes' output lines (``root.mn.ws.N | RUNNING {...}``)."""
    return [json.loads(line.split("RUNNING ", 1)[1]) for line in lines if "RUNNING {" in line]


def agent_of(agents: list[AgentProcess], facts: dict) -> str:
    """The name of the agent whose code bundle the node ran from."""
    owners = [agent.name for agent in agents if agent.owns_bundle_folder(facts["cwd"])]
    assert len(owners) == 1, (facts["cwd"], owners)
    return owners[0]


@pytest.mark.e2e
def test_three_nodes_on_three_agents_meet_at_node_zero(cluster: Cluster) -> None:
    """A 3-node gang runs one node per agent; every node is called with node 0's address and port and the same
    MASTER_ADDR/MASTER_PORT/WORLD_SIZE, its own NODE_RANK and RANK, and the all-reduce gives 0+1+2 to all."""
    cluster.control_plane(APPS / "allreduce.py")
    agents = gang_agents(cluster, 3)
    run = cluster.wait_app(TIMEOUT_S)
    assert run.exit_code == 0, cluster.output()
    nodes = reported(run.stdout, "GANG")
    assert [node["total"] for node in nodes] == [3, 3, 3]
    assert len({agent_of(agents, node) for node in nodes}) == 3, "two nodes shared an agent"
    port = nodes[0]["main_port"]
    for rank, node in enumerate(nodes):
        assert (node["rank"], node["main_address"], node["main_port"], node["num_nodes"]) == (rank, "127.0.0.1",
                                                                                              port, 3)
        assert node["env"] == {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "3",
                               "NODE_RANK": str(rank), "LOCAL_WORLD_SIZE": "1", "RANK": str(rank),
                               "LOCAL_RANK": "0", "CUDA_VISIBLE_DEVICES": "0"}


@pytest.mark.e2e
def test_a_gang_is_placed_all_at_once_when_enough_agents_are_there(cluster: Cluster) -> None:
    """With two agents for three nodes no node starts and the gang says why; the third agent joining starts all."""
    cp = cluster.control_plane(APPS / "allreduce.py")
    agents = gang_agents(cluster, 2)
    cp.wait_for_line("PENDING gang root.mn needs 3 agents with 1 GPU free; 2 have", timeout_s=TIMEOUT_S)
    assert not cp.lines_with("RUNNING", "stdout"), "a node ran before the gang could be placed"
    assert not any(a.lines_with("work_process_spawned") for a in agents), "a node held an agent while waiting"
    agents.append(cluster.agent("node-late", *ONE_GPU))
    run = cluster.wait_app(TIMEOUT_S)
    assert run.exit_code == 0, cluster.output()
    assert [node["total"] for node in reported(run.stdout, "GANG")] == [3, 3, 3]


@pytest.mark.e2e
def test_a_node_killed_mid_run_restarts_the_whole_gang(cluster: Cluster, tmp_path: Path) -> None:
    """SIGKILL of node 1 while every node is inside run(): under on_failure(max_restarts=1) the other nodes are
    stopped, the gang is placed again and the call runs again in three new processes, which meet and finish."""
    hold = tmp_path / "let-them-meet"
    cp = cluster.control_plane(APPS / "allreduce.py", "--env", f"GANG_HOLD_UNTIL={hold}")
    gang_agents(cluster, 3)
    first = running(cp.wait_for("RUNNING {", "stdout", timeout_s=TIMEOUT_S, count=3))
    first_pids = {facts["rank"]: facts["pid"] for facts in first}
    os.kill(first_pids[1], signal.SIGKILL)
    cp.wait_for("gang_restarted", timeout_s=TIMEOUT_S)
    hold.touch()  # the new generation may meet (the first one's nodes are being stopped)
    run = cluster.wait_app(TIMEOUT_S)
    assert run.exit_code == 0, cluster.output()
    nodes = reported(run.stdout, "GANG")
    assert [node["total"] for node in nodes] == [3, 3, 3]
    assert not {node["pid"] for node in nodes} & set(first_pids.values()), "a node of the first generation finished"
    assert len(running(run.stdout.splitlines())) == 6
    assert cp.lines_with("gang_restarted"), cp.output()


@pytest.mark.e2e
def test_two_gangs_racing_for_four_agents_both_finish(cluster: Cluster) -> None:
    """Two 3-node gangs and four 1-GPU agents: one gang runs while the other waits (saying 1 agent has room, the
    three others' GPU being taken), never holding an agent, then runs once the first freed its agents; both
    all-reduces finish."""
    cp = cluster.control_plane(APPS / "two_gangs.py")
    gang_agents(cluster, 4)
    run = cluster.wait_app(TIMEOUT_S * 2)
    assert run.exit_code == 0, cluster.output()
    gangs = reported(run.stdout, "GANGS")
    assert [n["total"] for n in gangs["first"]] == [3, 3, 3] and [n["total"] for n in gangs["second"]] == [3, 3, 3]
    one, other = sorted(gangs.values(), key=lambda nodes: min(n["started"] for n in nodes))
    assert max(n["ended"] for n in one) <= min(n["started"] for n in other), "the gangs overlapped on 4 agents"
    waiting = [line for line in cp.lines_with("PENDING", "stdout") if "needs 3 agents with 1 GPU" in line]
    assert any("; 1 has (" in line and line.count("0 of 1 GPUs free") == 3 for line in waiting), cp.output()


TORCH_MISSING = ("" if importlib.util.find_spec("torch") else
                 "torch is not installed (the `torch` extra; scripts/test installs a CPU build where one is at hand)")


@pytest.mark.e2e
@pytest.mark.skipif(bool(TORCH_MISSING), reason=TORCH_MISSING)
def test_torch_distributed_gloo_on_two_nodes(cluster: Cluster) -> None:
    """Real torch.distributed over gloo on two agents: a plain MultiNode's nodes join with env:// from the
    environment MultiNode set, and a PyTorchSpawnMultiNode's nodes get their process group; both all-reduce to 3."""
    cluster.control_plane(APPS / "torch_gloo.py")
    cluster.agent("node-0", "--gpus", "none", "--cpus", "16")
    cluster.agent("node-1", "--gpus", "none", "--cpus", "16")
    run = cluster.wait_app(TIMEOUT_S * 4)
    assert run.exit_code == 0, cluster.output()
    assert reported(run.stdout, "TORCH") == {"env": [3.0, 3.0], "spawn": [[3.0, 2], [3.0, 2]]}, cluster.output()


@pytest.mark.e2e
def test_script_components_run_scripts_alone_and_on_every_node(cluster: Cluster) -> None:
    """TracerPythonScript streams the script's output and keeps its outputs (Payloads); PopenPythonScript's exit status 3 fails
    its call saying so; a MultiNode of PopenPythonScript runs the script on two agents, each with its NODE_RANK."""
    cp = cluster.control_plane(APPS / "scripts_app.py")
    cluster.agent("node-0", "--gpus", "none", "--cpus", "16")
    cluster.agent("node-1", "--gpus", "none", "--cpus", "16")
    run = cluster.wait_app(TIMEOUT_S)
    assert run.exit_code == 0, cluster.output()
    facts = reported(run.stdout, "SCRIPTS")
    assert facts["answer"] == "Payload", "the script's output is kept as a Payload other works can fetch"
    assert facts["exit_code"] == 3 and "scripts/exit3.py exited with status 3" in facts["failed"]
    assert cp.lines_with("root.tracer | HELLO ['--name', 'gang'] hi", "stdout")
    assert cp.lines_with("root.failing | ABOUT TO FAIL", "stdout")
    nodes = sorted(line.split("SCRIPT_NODE ", 1)[1] for line in cp.lines_with("SCRIPT_NODE", "stdout"))
    assert nodes == ["0 127.0.0.1 2", "1 127.0.0.1 2"], cp.output()



def _gpus() -> int:
    """How many GPUs NVML sees (0 without a driver)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            return int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no driver, no library: no GPU
        return 0


NCCL_MISSING = TORCH_MISSING or ("" if _gpus() >= 2 else "needs 2 GPUs (NVML sees fewer here)")


@pytest.mark.e2e
@pytest.mark.skipif(bool(NCCL_MISSING), reason=NCCL_MISSING)
def test_torch_distributed_nccl_on_two_single_gpu_nodes(cluster: Cluster) -> None:
    """Two agents with one GPU each: the same two gangs as the gloo test, each node on its own GPU with NCCL."""
    cluster.control_plane(APPS / "torch_gloo.py", "--env", "GANG_TORCH_GPU=1", env={"GANG_TORCH_GPU": "1"})
    cluster.agent("gpu-0", "--gpus", "0", "--cpus", "16")
    cluster.agent("gpu-1", "--gpus", "1", "--cpus", "16")
    run = cluster.wait_app(TIMEOUT_S * 4)
    assert run.exit_code == 0, cluster.output()
    assert reported(run.stdout, "TORCH") == {"env": [3.0, 3.0], "spawn": [[3.0, 2], [3.0, 2]]}, cluster.output()

LIGHTNING_MISSING = TORCH_MISSING or ("" if importlib.util.find_spec("pytorch_lightning") else
                                      "pytorch_lightning is not installed (scripts/test installs it with torch)")


@pytest.mark.e2e
@pytest.mark.skipif(bool(LIGHTNING_MISSING), reason=LIGHTNING_MISSING)
def test_lightning_trainer_multinode_trains_one_model_on_two_nodes(cluster: Cluster) -> None:
    """An unchanged Trainer in each node's run() sees 2 nodes, world size 2 and its own rank, trains with DDP, and
    both nodes end with the same weights (their gradients were all-reduced across the agents)."""
    cluster.control_plane(APPS / "lightning_trainer.py")
    cluster.agent("node-0", "--gpus", "none", "--cpus", "16")
    cluster.agent("node-1", "--gpus", "none", "--cpus", "16")
    run = cluster.wait_app(TIMEOUT_S * 4)
    assert run.exit_code == 0, cluster.output()
    first, second = reported(run.stdout, "FIT")
    assert (first["world_size"], first["num_nodes"], second["world_size"]) == (2, 2, 2), (first, second)
    assert sorted([first["global_rank"], second["global_rank"]]) == [0, 1]
    assert first["strategy"] == "DDPStrategy" and first["weights"] == second["weights"], (first, second)


@pytest.mark.e2e
@pytest.mark.skipif(bool(LIGHTNING_MISSING), reason=LIGHTNING_MISSING)
def test_lightning_trainer_script_trains_an_unchanged_script_on_two_nodes(cluster: Cluster) -> None:
    """LightningTrainerScript runs an unchanged training script on two agents: each node's Trainer sees 2 nodes and
    world size 2 (its own rank), and each runner keeps its Trainer's checkpoint."""
    cp = cluster.control_plane(APPS / "trainer_script.py")
    cluster.agent("node-0", "--gpus", "none", "--cpus", "16")
    cluster.agent("node-1", "--gpus", "none", "--cpus", "16")
    run = cluster.wait_app(TIMEOUT_S * 4)
    assert run.exit_code == 0, cluster.output()
    assert reported(run.stdout, "SCRIPT_TRAINED") == [{"finished": True, "checkpoint": True}] * 2
    trained = sorted(line.split("TRAINED ", 1)[1] for line in cp.lines_with("TRAINED ", "stdout")
                     if "SCRIPT_TRAINED" not in line)
    assert trained == ["2 2 0", "2 2 1"], cp.output()
