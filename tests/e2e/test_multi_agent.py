"""End-to-end: a control plane without a local agent and several ``lightning-agent`` processes joining it:
placement by GPUs, CPUs, memory and labels, works pending until capacity frees up or a fitting agent joins, the
app's code bundle, ``--env`` on remote agents, one process per work when agents join late, and prompt stops.

Where a work ran is read from its cwd: remote works run from the code bundle their agent unpacked (under the agent's
``--work-dir`` or ``--state-dir``, see ``AgentProcess.bundle_roots``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import lines_of, reported
from tests.helpers.agents import AgentProcess, Cluster

APPS = Path(__file__).resolve().parent / "apps_multi"
TIMEOUT_S = 20.0
PLENTY_OF_CPUS = ("--cpus", "16")
"""Plain works ask for 1 CPU each: agents offer enough unless a test is about CPUs."""


def finished(cluster: Cluster):  # noqa: ANN201 - AppRun
    """Wait for the cluster's last control plane to end (failing at once if an agent dies), require exit 0."""
    run = cluster.wait_app(TIMEOUT_S)
    assert run.exit_code == 0, f"exit {run.exit_code}\n{cluster.output()}"
    return run


def ran_on(agent: AgentProcess, facts: dict) -> bool:  # type: ignore[type-arg]
    """Whether the work that reported ``facts`` ran from a code bundle unpacked by ``agent``."""
    return agent.owns_bundle_folder(facts["cwd"])


@pytest.mark.e2e
def test_gpu_work_is_placed_on_the_agent_with_gpus(cluster: Cluster) -> None:
    """CloudCompute(gpus=2) runs on agent B (--gpus 0,1, not A without GPUs) and sees CUDA_VISIBLE_DEVICES=0,1."""
    cluster.control_plane(APPS / "gpu_placement.py")
    a = cluster.agent("a", "--gpus", "none", *PLENTY_OF_CPUS)
    b = cluster.agent("b", "--gpus", "0,1", *PLENTY_OF_CPUS)
    run = finished(cluster)
    placed = reported(run.stdout, "PLACED")
    assert ran_on(b, placed["big"]), f"the 2-GPU work ran from {placed['big']['cwd']}, not from a bundle of agent b"
    assert placed["big"]["cuda"] == "0,1"
    assert ran_on(a, placed["plain"]) or ran_on(b, placed["plain"]), placed["plain"]
    assert placed["plain"]["cuda"] is None, "a work without GPUs must not be given any"


@pytest.mark.e2e
def test_two_one_gpu_works_get_different_gpus(cluster: Cluster) -> None:
    """Two overlapping CloudCompute("gpu") works on an agent with GPUs 0,1 see CUDA_VISIBLE_DEVICES 0 and 1."""
    cluster.control_plane(APPS / "two_gpus.py")
    b = cluster.agent("b", "--gpus", "0,1", *PLENTY_OF_CPUS)
    run = finished(cluster)
    gpus = reported(run.stdout, "GPUS")
    one, two = gpus["one"], gpus["two"]
    assert ran_on(b, one) and ran_on(b, two)
    overlap = max(one["started"], two["started"]) < min(one["ended"], two["ended"])
    assert overlap, f"the works did not overlap: {gpus}"
    assert sorted([one["cuda"], two["cuda"]]) == ["0", "1"], f"the same GPU twice, or not one each: {gpus}"


@pytest.mark.e2e
def test_placement_by_cpus_memory_and_labels(cluster: Cluster) -> None:
    """cpus=3, memory=3Gi and labels zone=a each land on the only agent that fits them."""
    cluster.control_plane(APPS / "resources.py")
    zone_a = cluster.agent("zone-a", "--gpus", "none", "--cpus", "1", "--memory", "1Gi", "--labels", "zone=a")
    many_cpus = cluster.agent("many-cpus", "--gpus", "none", "--cpus", "4", "--memory", "1Gi", "--labels", "zone=b")
    much_memory = cluster.agent("much-memory", "--gpus", "none", "--cpus", "1", "--memory", "4Gi")
    run = finished(cluster)
    placed = reported(run.stdout, "PLACED")
    assert ran_on(many_cpus, placed["cpu3"]), placed["cpu3"]
    assert ran_on(much_memory, placed["mem3"]), placed["mem3"]
    assert ran_on(zone_a, placed["zone_a"]), placed["zone_a"]


@pytest.mark.e2e
def test_second_gpu_work_pends_until_the_first_frees_the_gpu(cluster: Cluster) -> None:
    """With one GPU, the second GPU work is pending (a message naming GPUs) while the first runs, and runs after
    the first's process exited."""
    cluster.control_plane(APPS / "pending_gpu.py")
    agent = cluster.agent("one-gpu", "--gpus", "0", *PLENTY_OF_CPUS)
    run = finished(cluster)
    pending = reported(run.stdout, "PENDING_WHILE_FIRST_RUNS")
    assert pending["stage"] == "pending"
    assert "GPU" in pending["message"] and "one-gpu" in pending["message"], pending
    assert reported(run.stdout, "FIRST_SUCCEEDED")["second_stage"] == "pending", "the GPU was given twice"
    done = reported(run.stdout, "DONE")
    assert done["second"]["cuda"] == "0" and ran_on(agent, done["second"])
    assert done["second"]["started"] >= done["first"]["ended"]
    log = agent.stderr_lines  # one agent: its log gives the order of what happened to the two processes
    first_exit = [i for i, line in enumerate(log) if "work_process_exited" in line and "root.first" in line]
    second_spawn = [i for i, line in enumerate(log) if "work_process_spawned" in line and "root.second" in line]
    assert first_exit and second_spawn, agent.output()
    assert first_exit[0] < second_spawn[0], "the second work started before the first's process exited"


@pytest.mark.e2e
def test_pending_work_is_placed_when_a_fitting_agent_joins(cluster: Cluster) -> None:
    """A GPU work pends while only a CPU agent is connected (its message says why) and runs on the GPU agent
    as soon as that one joins."""
    cp = cluster.control_plane(APPS / "late_gpu.py")
    cluster.agent("cpu-only", "--gpus", "none", *PLENTY_OF_CPUS)
    line = cp.wait_for_line("cpu-only: 0 of 0 GPUs free")
    assert line.startswith("PENDING ") and "1 GPU" in line, line
    assert not cp.lines_with("FACTS", "stdout"), "the GPU work ran before any GPU agent joined"
    gpu_agent = cluster.agent("gpu", "--gpus", "0", *PLENTY_OF_CPUS)
    run = finished(cluster)
    done = reported(run.stdout, "DONE")
    assert ran_on(gpu_agent, done) and done["cuda"] == "0", done


@pytest.mark.e2e
def test_code_bundle_is_shipped_once_and_shared(cluster: Cluster) -> None:
    """Three works started at once on one agent: one bundle_sent, one bundle folder for all, the app folder's
    own module importable, its data file present and its .lightningignore'd file absent."""
    cluster.control_plane(APPS / "bundled.py")
    agent = cluster.agent("solo", "--gpus", "none", *PLENTY_OF_CPUS)
    run = finished(cluster)
    facts = reported(run.stdout, "BUNDLED")
    sent = [line for line in run.stderr.splitlines() if "bundle_sent" in line]
    assert len(sent) == 1, f"expected one bundle_sent, got {len(sent)}:\n" + "\n".join(sent)
    folders = {item["cwd"] for item in facts.values()}
    assert len(folders) == 1, f"the works ran from different folders: {folders}"
    (folder,) = (Path(f) for f in folders)
    assert agent.bundles() == [folder.resolve()] or agent.bundles() == [folder], (agent.bundles(), folder)
    for item in facts.values():
        assert item["marker"] == "only-here-7f3a"
        assert Path(item["helper_file"]).resolve().is_relative_to(folder.resolve()), item
        assert item["data"] == "payload for remote works"
        assert item["secret_present"] is False
    assert (folder / "data.txt").is_file() and (folder / "only_here.py").is_file()
    assert not (folder / "secret.txt").exists(), "a .lightningignore'd file was shipped"


@pytest.mark.e2e
def test_env_reaches_works_on_a_remote_agent(cluster: Cluster) -> None:
    """``--env MULTI_GREETING=...`` is in the environment of a work running on a remote agent."""
    cluster.control_plane(APPS / "one_work.py", "--env", "MULTI_GREETING=hello from the control plane")
    agent = cluster.agent("remote", "--gpus", "none", *PLENTY_OF_CPUS)
    run = finished(cluster)
    done = reported(run.stdout, "DONE")
    assert ran_on(agent, done), done
    assert done["greeting"] == "hello from the control plane"
    assert any(line.startswith("FACTS ") for line in lines_of(run.stdout, "root.w"))


@pytest.mark.e2e
def test_each_work_runs_once_when_an_agent_joins_while_works_start(cluster: Cluster) -> None:
    """Four works placed on agent a are still starting (cold, without bytecode cache) when agent b joins: each work
    still gets exactly one process, on a, and runs once."""
    cp = cluster.control_plane(APPS / "four_works.py")
    slow_start = {"PYTHONPYCACHEPREFIX": str(cluster.root / "no-bytecode-cache")}  # ~0.7 s per work process
    a = cluster.agent("a", "--gpus", "none", "--no-fork-server", *PLENTY_OF_CPUS, env=slow_start)
    cp.wait_for("work_placed", count=4)
    assert all("agent=a " in line for line in cp.lines_with("work_placed")), cp.output()
    assert not a.lines_with("work_process_exited"), "too late: the works already ran"
    b = cluster.agent("b", "--gpus", "none", *PLENTY_OF_CPUS)
    run = finished(cluster)
    placed = reported(run.stdout, "PLACED")
    started = {name: [agent.name for agent in (a, b) for line in agent.lines_with("work_process_spawned")
                      if f"work_name=root.{name} " in line + " "] for name in placed}
    assert all(agents == ["a"] for agents in started.values()), (
        f"agents that started a process for each work (expected only a, once): {started}\n{cluster.output()}")
    for name, facts in placed.items():
        assert ran_on(a, facts), facts
        runs = [line for line in lines_of(run.stdout, f"root.{name}") if line.startswith("FACTS ")]
        assert len(runs) == 1, f"root.{name} ran {len(runs)} times"


@pytest.mark.e2e
def test_idle_works_on_a_remote_agent_exit_on_the_first_sigterm(cluster: Cluster) -> None:
    """When the app ends, sixteen idle works on a remote agent all exit on their first SIGTERM, so the app ends in
    seconds rather than after the default 30 s --stop-grace."""
    cp = cluster.control_plane(APPS / "many_idle.py", stop_grace=None)
    agent = cluster.agent("idle-host", "--gpus", "none", *PLENTY_OF_CPUS)
    cp.wait_for_line("ALL_SUCCEEDED", timeout_s=TIMEOUT_S)
    try:
        run = cluster.wait_app(8.0)
    except AssertionError:
        stopping = {_work(line) for line in agent.lines_with("work_stopping")}
        exited = {_work(line) for line in agent.lines_with("work_process_exited")}
        raise AssertionError(f"the app did not end within 8 s of its stop: SIGTERM sent but process still running: "
                             f"{sorted(stopping - exited)}\n{cluster.output()}") from None
    assert run.exit_code == 0, cluster.output()
    assert not agent.lines_with("work_killed_after_grace"), agent.output()


def _work(line: str) -> str:
    return next((part[len("work_name="):] for part in line.split() if part.startswith("work_name=")), line)
