"""The local provider: agents on demand as ``lightning-agent`` processes on this machine.

The simplest engine: a job is a process in its own session, started with exactly the work's CPUs and memory and,
for GPU works, GPUs taken from ``--provider-option gpus=0,1,...`` that no other live agent of this provider holds.
Useful to try agents on demand (idle release, ``--max-agents``) without a cluster, and to test them.
Processes outlive the control plane like Slurm jobs do, and are found again by pid after a restart.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path
from typing import Sequence

import psutil
import structlog

from lightning_ctl.controlplane.errors import ProviderError
from lightning_ctl.controlplane.providers.agent_command import agent_environment, whole_cpus
from lightning_ctl.controlplane.providers.base import AgentLaunch, EngineState, EngineStatus
from lightning_ctl.controlplane.providers.settings import ProviderSettings
from lightning_ctl.sdk._launch import module_command

log = structlog.get_logger(component="provider.local")

OPTIONS = ("gpus",)


def _engine_id(process: psutil.Process) -> str:
    """A process id that a reused pid cannot impersonate: pid and start time."""
    return f"{process.pid}@{process.create_time():.2f}"


def _process(engine_id: str) -> psutil.Process | None:
    """The live process ``engine_id`` names, or None."""
    pid, _, started = engine_id.partition("@")
    try:
        process = psutil.Process(int(pid))
        if f"{process.create_time():.2f}" != started or process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process
    except (psutil.Error, ValueError):
        return None


def _gpus_of(process: psutil.Process) -> tuple[int, ...]:
    """The GPUs an agent process was started with (its ``--gpus`` argument)."""
    try:
        argv = process.cmdline()
        text = argv[argv.index("--gpus") + 1]
        return tuple(int(i) for i in text.split(",")) if text != "none" else ()
    except (psutil.Error, ValueError, IndexError):
        return ()


class LocalProvider:
    """Agents as processes on this machine."""

    engine = "local"

    def __init__(self, settings: ProviderSettings, work_dir: Path) -> None:
        text = settings.get("gpus")
        try:
            self._gpus = tuple(int(i) for i in text.split(",")) if text else ()
        except ValueError:
            raise ProviderError(f"--provider-option gpus={text}: expected GPU indices like 0,1") from None
        self._dir = work_dir / "local-agents"
        self._held: dict[str, tuple[int, ...]] = {}
        """The GPUs each live agent process (by engine id) was given."""
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        """The processes this control plane started (reaped once they exit)."""

    async def submit(self, launch: AgentLaunch) -> str:
        """Start one agent process (a gang of N nodes is not something one machine can offer)."""
        spec = launch.spec
        if spec.nodes != 1:
            raise ProviderError(f"the local provider starts one agent per request, not a gang of {spec.nodes}")
        gpus = self._take_gpus(spec.resources.gpus)
        state_dir = self._dir / launch.request_id
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        args = [*launch.agent_args, "--name", f"local-{launch.request_id}", "--state-dir", str(state_dir),
                "--cpus", str(whole_cpus(spec)), "--gpus", ",".join(map(str, gpus)) or "none"]
        if spec.resources.memory_bytes:
            args += ["--memory", str(spec.resources.memory_bytes)]
        popen = await asyncio.to_thread(_spawn_agent, args, agent_environment(launch.join_token), state_dir)
        engine_id = _engine_id(psutil.Process(popen.pid))
        self._held[engine_id] = gpus
        self._children[engine_id] = popen
        log.info("local_agent_started", request_id=launch.request_id, pid=popen.pid, gpus=list(gpus))
        return engine_id

    async def poll(self, engine_ids: Sequence[str]) -> dict[str, EngineStatus]:
        """Running while the process lives."""
        statuses = {}
        for engine_id in engine_ids:
            child = self._children.get(engine_id)
            if child is not None and child.poll() is not None:
                del self._children[engine_id]
            process = _process(engine_id)
            if process is None:
                self._held.pop(engine_id, None)
                statuses[engine_id] = EngineStatus(EngineState.GONE, "the agent process exited")
                continue
            if engine_id not in self._held:  # started by a previous control plane: learn its GPUs again
                self._held[engine_id] = _gpus_of(process)
            statuses[engine_id] = EngineStatus(EngineState.RUNNING, where=f"pid {process.pid}")
        return statuses

    async def release(self, engine_ids: Sequence[str]) -> None:
        """SIGTERM each agent (it stops its works first)."""
        for engine_id in engine_ids:
            process = _process(engine_id)
            self._held.pop(engine_id, None)
            if process is not None:
                try:
                    os.kill(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def close(self) -> None:
        """Nothing to free."""

    def _take_gpus(self, count: int) -> tuple[int, ...]:
        if not count:
            return ()
        held = {i for gpus in self._held.values() for i in gpus}
        free = [i for i in self._gpus if i not in held]
        if len(free) < count:
            raise ProviderError(f"{len(free)} of the {len(self._gpus)} GPUs of --provider-option gpus= are free, "
                                f"{count} asked for")
        return tuple(free[:count])


def _spawn_agent(args: list[str], env: dict[str, str], state_dir: Path) -> subprocess.Popen[bytes]:
    """Start ``lightning-agent *args`` in its own session, its output appended to ``state_dir/agent.log``."""
    with open(state_dir / "agent.log", "ab") as output:
        return subprocess.Popen(module_command("lightning_ctl.agent", *args), env=env, stdin=subprocess.DEVNULL,
                                stdout=output, stderr=output, start_new_session=True)
