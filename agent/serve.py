"""Running the agent until it is told to stop: the daemon, the session, and the local agent's orphan rule.

A local agent (started by ``lightning-ctl run``) watches the control plane's process. When that process dies, its
works keep running (the control plane may be restarted and resume the app): the agent follows the control plane's
address file and re-attaches them to the next one. Only if no control plane comes back within the orphan timeout
does it stop the works and exit, so nothing of an abandoned app lingers for ever.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from typing import Any

import psutil
import structlog

from lightning_ctl.agent.daemon import AgentDaemon
from lightning_ctl.agent.endpoints import address_towards
from lightning_ctl.agent.errors import RegistrationRefusedError
from lightning_ctl.agent.home import AgentHome
from lightning_ctl.agent.launcher import ZygoteLauncher
from lightning_ctl.agent.ports import ServingOptions
from lightning_ctl.agent.session import AgentSession

log = structlog.get_logger(component="agent")

_PARENT_POLL_S = 0.2


@dataclass(frozen=True)
class LocalAgentOptions:
    """How a local agent is tied to the lightning-ctl that started it."""

    parent_pid: int
    orphan_timeout_s: float


async def _read_address(fd: int) -> tuple[str, str]:
    """The control plane's address and the one-time join token, written to the pipe ``fd`` by the lightning-ctl that
    started this agent (("", "") when it ended first)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0))
    address = (await reader.readline()).decode().strip()
    join_token = (await reader.readline()).decode().strip()
    return address, join_token


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def _watch_parent(local: LocalAgentOptions, session: AgentSession, daemon: AgentDaemon, grace_s: float) -> None:
    """Return (after stopping the works) once the control plane is gone and none came back in time."""
    while _alive(local.parent_pid):
        await asyncio.sleep(_PARENT_POLL_S)
    log.warning("control_plane_process_gone", pid=local.parent_pid, keep_works_for_s=local.orphan_timeout_s)
    sessions_before = session.sessions_started
    deadline = asyncio.get_running_loop().time() + local.orphan_timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if session.sessions_started > sessions_before:
            log.info("control_plane_back", address=session.address)
            await asyncio.Event().wait()  # the new control plane stops this agent (SIGTERM) when the app ends
        await asyncio.sleep(_PARENT_POLL_S)
    log.warning("orphaned", reason=f"no control plane came back within {local.orphan_timeout_s}s")
    await daemon.stop_all(grace_s, "no control plane came back")


async def serve(
    session_kwargs: dict[str, Any],
    home: AgentHome,
    address_fd: int | None,
    work_dir: str | None,
    launcher: ZygoteLauncher | None,
    local: LocalAgentOptions | None,
    grace_s: float,
    stop_works_on_exit: bool = False,
    serving: ServingOptions = ServingOptions(),
) -> int:
    """Run until SIGTERM/SIGINT (or, for a local agent, until orphaned); the exit status.

    A local agent stops its works before it exits. One told ``stop_works_on_exit`` (its machine goes away with
    it: a Slurm job, a Pod) leaves the control plane first, then stops its works: nothing new is placed on it
    while it drains, and the control plane hands its works to their restart policies.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if address_fd is not None:
        address_task = asyncio.create_task(_read_address(address_fd))
        await asyncio.wait([address_task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
        if not address_task.done() or not address_task.result()[0]:
            if launcher is not None:
                launcher.close()
            return 0  # the control plane ended (or failed to start) before it listened
        session_kwargs["address"], session_kwargs["join_token"] = address_task.result()
    home.write_pid()
    advertise = serving.advertise_address or address_towards(session_kwargs["address"])
    daemon = AgentDaemon(home, work_dir, launcher, advertise, serving.ports)
    await daemon.start()
    session = AgentSession(daemon=daemon, home=home, **session_kwargs)
    tasks = [asyncio.create_task(session.run_forever()), asyncio.create_task(stop.wait())]
    if local is not None:
        tasks.append(asyncio.create_task(_watch_parent(local, session, daemon, grace_s)))
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    status = 0
    for task in done:
        if not task.cancelled() and isinstance(refused := task.exception(), RegistrationRefusedError):
            log.error("registration_refused", reason=str(refused))
            status = refused.exit_code
    if stop_works_on_exit and local is None:
        # Leave first, so that no work is placed here while the works stop: the control plane learns from the
        # engine (or the agent-lost grace) that this agent's works are lost, and their restart policies decide.
        for task in tasks:
            task.cancel()
        await daemon.stop_all(grace_s, "agent stopping")
    elif local is not None:  # nothing of the app outlives this agent
        await daemon.stop_all(grace_s, "agent stopping")
    for task in tasks:
        task.cancel()
    await daemon.close()
    home.remove_pid()
    log.info("agent_stopped")
    return status
