"""The Slurm provider's pure parts: the sbatch command and script, and reading squeue."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lightning_ctl.controlplane.providers.agent_command import agent_environment, common_agent_args
from lightning_ctl.controlplane.providers.base import AgentLaunch, AgentSpec, EngineState
from lightning_ctl.controlplane.providers.settings import (
    ProviderOptionError,
    ProviderSettings,
    parse_provider_options,
)
from lightning_ctl.controlplane.providers.slurm import batch_script, parse_squeue, sbatch_argv
from lightning_ctl.sdk._events import ResourceRequest


def launch(spec: AgentSpec) -> AgentLaunch:
    args = common_agent_args(spec, "cp:5000", 20.0)
    return AgentLaunch("r1", spec, "cp:5000", "SECRET-TOKEN", args)


def test_sbatch_asks_for_exactly_the_works_resources_and_the_options() -> None:
    """GPUs, CPUs (rounded up), memory in MiB, partition from the options and qos from the work's labels."""
    spec = AgentSpec(ResourceRequest(gpus=2, cpus=3.5, memory_bytes=3 * 2**30 + 1, labels={"slurm/qos": "high"}))
    settings = ProviderSettings("slurm", {"partition": "gpu", "account": "ml", "time": "1:00:00"})
    argv = sbatch_argv(launch(spec), settings, Path("/out"))
    for expected in ("--gres=gpu:2", "--cpus-per-task=4", "--mem=3073M", "--partition=gpu", "--account=ml",
                     "--time=1:00:00", "--qos=high", "--nodes=1", "--job-name=lightning-agent-r1"):
        assert expected in argv, (expected, argv)


def test_a_gang_is_one_job_of_n_nodes_with_one_agent_each() -> None:
    """nodes=4 asks for --nodes=4 and names each agent by its task."""
    spec = AgentSpec(ResourceRequest(gpus=8), nodes=4)
    assert "--nodes=4" in sbatch_argv(launch(spec), ProviderSettings("slurm"), Path("/out"))
    assert "SLURM_PROCID" in batch_script(launch(spec), "lightning-agent").split("--name", 1)[1].split()[0]


def test_the_script_offers_what_slurm_granted_and_never_holds_the_token() -> None:
    """The agent offers Slurm's CPUs, memory and GPUs, stops its works on exit, and the credential is not in it."""
    script = batch_script(launch(AgentSpec(ResourceRequest(gpus=1))), "/venv/bin/lightning-agent")
    assert '"${CUDA_VISIBLE_DEVICES:-none}"' in script and "SLURM_CPUS_ON_NODE" in script
    assert "SLURM_MEM_PER_NODE" in script and "--stop-works-on-exit" in script
    assert "SECRET-TOKEN" not in script


def test_the_jobs_environment_carries_only_the_agents_join_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """sbatch --export=ALL passes the control plane's environment on: its operator token and fixed join token are
    left out of it, and the agent's one-time join token is the only credential in it."""
    monkeypatch.setenv("LIGHTNING_CTL_TOKEN", "OPERATOR")
    monkeypatch.setenv("LIGHTNING_CTL_JOIN_TOKEN", "FIXED-JOIN")
    monkeypatch.setenv("LIGHTNING_AGENT_JOIN_TOKEN", "SOMEONE-ELSES")
    env = agent_environment("lctl-join.r1.SECRET")
    assert "LIGHTNING_CTL_TOKEN" not in env and "LIGHTNING_CTL_JOIN_TOKEN" not in env
    assert env["LIGHTNING_AGENT_JOIN_TOKEN"] == "lctl-join.r1.SECRET" and env["PATH"] == os.environ["PATH"]


def test_without_gpus_the_agent_offers_none() -> None:
    """A CPU work's agent offers no GPU, even if CUDA_VISIBLE_DEVICES came with the environment."""
    script = batch_script(launch(AgentSpec(ResourceRequest(cpus=2))), "lightning-agent")
    assert "unset CUDA_VISIBLE_DEVICES" in script and "--gpus none" in script


def test_squeue_states_map_to_queued_running_and_gone() -> None:
    """PENDING with its reason is queued; RUNNING running; ended states and COMPLETING are gone with the state."""
    statuses = parse_squeue("1|PENDING|Resources|\n2|RUNNING|None|n1\n3|PREEMPTED|None|n2\n4|COMPLETING|None|n1\n")
    assert (statuses["1"].state, statuses["1"].reason) == (EngineState.QUEUED, "Resources")
    assert (statuses["2"].state, statuses["2"].reason, statuses["2"].where) == (EngineState.RUNNING, "", "n1")
    assert (statuses["3"].state, statuses["3"].reason) == (EngineState.GONE, "PREEMPTED")
    assert statuses["4"].state == EngineState.GONE


def test_provider_options_are_checked() -> None:
    """Malformed, repeated and unknown options are errors naming the option."""
    with pytest.raises(ProviderOptionError, match="KEY=VALUE"):
        parse_provider_options(("partition",))
    with pytest.raises(ProviderOptionError, match="more than once"):
        parse_provider_options(("a=1", "a=2"))
    with pytest.raises(ProviderOptionError, match="partiton: unknown to the slurm provider"):
        ProviderSettings("slurm", {"partiton": "gpu"}).check_all_used(("partition",))
    with pytest.raises(ProviderOptionError, match="poll-interval=soon"):
        ProviderSettings("slurm", {"poll-interval": "soon"}).number("poll-interval", 1.0)
