"""The Slurm provider.

One batch job per requested agent (one job of N nodes for a gang), through ``sbatch``, ``squeue`` and
``scancel``; no Python dependency.

Each job asks for exactly the work's resources (``--gres=gpu:N``, ``--cpus-per-task``, ``--mem``) and runs one
``lightning-agent`` per node with ``srun``, offering exactly what Slurm granted (``CUDA_VISIBLE_DEVICES``,
``SLURM_CPUS_ON_NODE``, ``SLURM_MEM_PER_NODE``): the control plane never places work on hardware Slurm did not
give it. ``--partition``, ``--account``, ``--qos``, ``--time`` and ``--constraint`` come from
``--provider-option`` or, per work, from its ``CloudCompute(labels={"slurm/partition": "a100", ...})`` (the
agent carries those labels too, so only such agents take such works). The agent's one-time join token reaches the
job through its environment (``sbatch --export=ALL`` of the control plane's environment less the control plane's
own credentials), never its command line or script.

One ``squeue`` call reports every job of the app, however many there are; ``scancel`` ends several at once.
"""

from __future__ import annotations

import asyncio
import collections
import shlex
from pathlib import Path
from typing import Sequence

import structlog

from lightning_ctl.controlplane.errors import ProviderError
from lightning_ctl.controlplane.providers.agent_command import (
    agent_environment,
    default_agent_executable,
    memory_mebibytes,
    whole_cpus,
)
from lightning_ctl.controlplane.providers.base import AgentLaunch, EngineState, EngineStatus
from lightning_ctl.controlplane.providers.settings import ProviderSettings

log = structlog.get_logger(component="provider.slurm")

JOB_OPTIONS = ("partition", "account", "qos", "time", "constraint")
"""sbatch options a ``--provider-option`` or a work's ``slurm/<option>`` label sets."""
OPTIONS = (*JOB_OPTIONS, "output-dir", "sbatch-args", "agent-command")
LABEL_PREFIX = "slurm/"
COMMAND_TIMEOUT_S = 60.0

_QUEUED_STATES = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED"}
_RUNNING_STATES = {"CONFIGURING", "RUNNING", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED"}
_INVALID_JOB_ID = "Invalid job id specified"

_TASK_SCRIPT = """\
run_agent() {
  state=$(mktemp -d "${SLURM_TMPDIR:-${TMPDIR:-/tmp}}/lightning-agent-${SLURM_JOB_ID}-XXXXXX") || return 1
  %(command)s &
  agent=$!
  trap 'kill -TERM "$agent" 2>/dev/null' TERM
  wait "$agent"
  wait "$agent"
  status=$?
  rm -rf "$state"
  return "$status"
}
export -f run_agent
"""


def sbatch_argv(launch: AgentLaunch, settings: ProviderSettings, output_dir: Path) -> list[str]:
    """The ``sbatch`` command for ``launch`` (its script comes on stdin)."""
    spec = launch.spec
    argv = [
        "sbatch", "--parsable", f"--job-name=lightning-agent-{launch.request_id}",
        f"--output={output_dir / 'slurm-%j.log'}", f"--chdir={output_dir}", "--export=ALL", "--no-requeue",
        f"--nodes={spec.nodes}", "--ntasks-per-node=1", f"--cpus-per-task={whole_cpus(spec)}",
    ]
    if spec.resources.memory_bytes:
        argv.append(f"--mem={memory_mebibytes(spec)}M")
    if spec.resources.gpus:
        argv.append(f"--gres=gpu:{spec.resources.gpus}")
    for option in JOB_OPTIONS:
        value = spec.resources.labels.get(LABEL_PREFIX + option) or settings.get(option)
        if value:
            argv.append(f"--{option}={value}")
    argv += shlex.split(settings.get("sbatch-args"))
    return argv


def batch_script(launch: AgentLaunch, agent_command: str) -> str:
    """The job's script: one ``lightning-agent`` per node, offering what Slurm granted on that node.

    The agent runs in the background of a small shell that forwards SIGTERM (cancellation, preemption, time limit)
    and removes the agent's state folder once it drained. That folder is new for each job: a job is a new agent,
    which must never adopt the works record another job left behind.
    """
    spec = launch.spec
    name = '"slurm-${SLURM_JOB_ID}"' if spec.nodes == 1 else '"slurm-${SLURM_JOB_ID}-${SLURM_PROCID}"'
    gpus = '"${CUDA_VISIBLE_DEVICES:-none}"' if spec.resources.gpus else "none"
    command = " ".join([
        *shlex.split(agent_command), *(shlex.quote(arg) for arg in launch.agent_args),
        "--name", name, "--state-dir", '"$state"', "--cpus", '"${SLURM_CPUS_ON_NODE:-1}"', "--gpus", gpus,
        '${SLURM_MEM_PER_NODE:+--memory "${SLURM_MEM_PER_NODE}Mi"}',
    ])
    lines = [
        "#!/bin/bash",
        f"# lightning-ctl: agent for request {launch.request_id} ({spec.describe()})",
        f"export LIGHTNING_CTL_REQUEST={launch.request_id}",
    ]
    if not spec.resources.gpus:
        lines.append("unset CUDA_VISIBLE_DEVICES  # no GPUs were asked for: none are offered")
    lines.append('export SRUN_CPUS_PER_TASK="${SLURM_CPUS_PER_TASK:-1}"  # srun no longer inherits it (Slurm 22.05)')
    lines.append(_TASK_SCRIPT % {"command": command})
    lines.append("srun --ntasks-per-node=1 --kill-on-bad-exit=0 /bin/bash -c run_agent")
    return "\n".join(lines) + "\n"


def parse_squeue(text: str) -> dict[str, EngineStatus]:
    """``squeue --format=%i|%T|%r|%N`` lines as statuses by job id."""
    statuses = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4:
            continue
        job_id, state, reason, nodes = parts
        reason = "" if reason in ("None", "(null)") else reason
        if state in _QUEUED_STATES:
            statuses[job_id] = EngineStatus(EngineState.QUEUED, reason or state.lower(), nodes)
        elif state in _RUNNING_STATES:
            statuses[job_id] = EngineStatus(EngineState.RUNNING, reason, nodes)
        else:
            statuses[job_id] = EngineStatus(EngineState.GONE, f"{state} {reason}".strip(), nodes)
    return statuses


class SlurmProvider:
    """Agents as Slurm batch jobs."""

    engine = "slurm"

    def __init__(self, settings: ProviderSettings, work_dir: Path) -> None:
        self._settings = settings
        self._output_dir = Path(settings.get("output-dir") or work_dir / "slurm")
        self._agent_command = settings.get("agent-command") or shlex.quote(default_agent_executable())
        self.commands_issued: collections.Counter[str] = collections.Counter()
        """How many times each Slurm command ran (for the benchmark and the logs)."""

    async def submit(self, launch: AgentLaunch) -> str:
        """``sbatch`` one job; its id."""
        self._output_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        argv = sbatch_argv(launch, self._settings, self._output_dir)
        output = await self._run(argv, stdin=batch_script(launch, self._agent_command),
                                 env=agent_environment(launch.join_token))
        job_id = output.strip().split(";")[0]
        if not job_id.isdigit():
            raise ProviderError(f"sbatch printed no job id: {output.strip()!r}")
        log.info("slurm_job_submitted", request_id=launch.request_id, job_id=job_id,
                 resources=launch.spec.describe(), output=str(self._output_dir / f"slurm-{job_id}.log"))
        return job_id

    async def poll(self, engine_ids: Sequence[str]) -> dict[str, EngineStatus]:
        """One ``squeue`` for all these jobs; ids Slurm no longer lists are GONE."""
        if not engine_ids:
            return {}
        argv = ["squeue", "--noheader", "--states=all", f"--jobs={','.join(engine_ids)}", "--format=%i|%T|%r|%N"]
        try:
            listed = parse_squeue(await self._run(argv))
        except ProviderError as exc:
            if _INVALID_JOB_ID not in str(exc):
                raise
            listed = {}  # none of them is known any more
        gone = EngineStatus(EngineState.GONE, "no longer known to Slurm")
        return {job_id: listed.get(job_id, gone) for job_id in engine_ids}

    async def release(self, engine_ids: Sequence[str]) -> None:
        """One ``scancel`` for all these jobs (Slurm sends SIGTERM, then SIGKILL after its KillWait)."""
        if engine_ids:
            await self._run(["scancel", *engine_ids])
            log.info("slurm_jobs_cancelled", job_ids=list(engine_ids))

    def close(self) -> None:
        """Nothing to free."""

    async def _run(self, argv: list[str], stdin: str | None = None, env: dict[str, str] | None = None) -> str:
        """Run one Slurm command; its stdout. A failure becomes a ProviderError carrying Slurm's own message."""
        self.commands_issued[argv[0]] += 1
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
                cwd=str(self._output_dir) if self._output_dir.is_dir() else None,
            )
        except FileNotFoundError:
            raise ProviderError(f"{argv[0]} is not installed here (is this a Slurm login node?)") from None
        try:
            out, err = await asyncio.wait_for(process.communicate(stdin.encode() if stdin else None),
                                              COMMAND_TIMEOUT_S)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
            raise ProviderError(f"{argv[0]} did not answer within {COMMAND_TIMEOUT_S:.0f}s") from None
        if process.returncode != 0:
            message = (err or out).decode(errors="replace").strip().splitlines()
            raise ProviderError(f"{argv[0]} failed: {message[-1] if message else f'exit {process.returncode}'}")
        return out.decode(errors="replace")
