"""Running the agent until it is told to stop: the daemon, the session, and the local agent's orphan rule.

A local agent (started by ``lightning-ctl run``) watches the control plane's process. When that process dies, its
works keep running (the control plane may be restarted and resume the app): the agent follows the control plane's
address file and re-attaches them to the next one. Only if no control plane comes back within the orphan timeout
does it stop the works and exit, so nothing of an abandoned app lingers for ever.

A first SIGTERM or SIGINT stops the agent (a local agent stops its works first, with their grace period); a second
one, while that is under way, kills the works still running at once.
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
from lightning_ctl.sdk._exit_codes import ExitCode
from lightning_ctl.sdk._tasks import TaskOwner, race

log = structlog.get_logger(component="agent")

_PARENT_POLL_S = 0.2


@dataclass(frozen=True)
class LocalAgentOptions:
    """How a local agent is tied to the lightning-ctl that started it."""

    parent_pid: int
    orphan_timeout_s: float


async def _read_address(fd: int) -> tuple[str, str]:
    """The control plane's address and the one-time join token, read from the pipe ``fd``.

    The lightning-ctl that started this agent writes them there; ("", "") when it ended first.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0))
    try:
        address = (await reader.readline()).decode().strip()
        join_token = (await reader.readline()).decode().strip()
        return address, join_token
    finally:
        transport.close()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def _watch_parent(local: LocalAgentOptions, session: AgentSession, daemon: AgentDaemon, grace_s: float) -> None:
    """Return (after stopping the works) once the control plane is gone and none came back in time."""
    # Our parent, not our child: nothing tells us it ended, so poll it.
    while _alive(local.parent_pid):  # noqa: ASYNC110
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


class _StopSignals:
    """SIGTERM/SIGINT: the first sets ``requested``; each later one kills the works still running, at once."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.daemon: AgentDaemon | None = None
        self.kills = TaskOwner(on_error=lambda name, exc: log.error("kill_failed", error=repr(exc)))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal)

    def _on_signal(self) -> None:
        if self.requested.is_set() and self.daemon is not None and not self.kills.closed:
            log.warning("works_killed", works=self.daemon.running_work_names(), reason="a second stop request")
            self.kills.spawn(self.daemon.stop_all(0.0, "the agent was told twice to stop"), "kill")
        self.requested.set()


async def serve(
    session_kwargs: dict[str, Any],
    home: AgentHome,
    address_fd: int | None,
    work_dir: str | None,
    launcher: ZygoteLauncher | None,
    local: LocalAgentOptions | None,
    grace_s: float,
    use_cgroups: bool = True,
    stop_works_on_exit: bool = False,
    serving: ServingOptions | None = None,
) -> int:
    """Run until SIGTERM/SIGINT (or, for a local agent, until orphaned); the exit status.

    A local agent stops its works before it exits. One told ``stop_works_on_exit`` (its machine goes away with
    it: a Slurm job, a Pod) leaves the control plane first, then stops its works: nothing new is placed on it
    while it drains, and the control plane hands its works to their restart policies.
    """
    signals = _StopSignals()
    if address_fd is not None:
        first = await race(_read_address(address_fd), signals.requested.wait())
        address, join_token = first.result() if not signals.requested.is_set() else ("", "")
        if not address:
            if launcher is not None:
                launcher.close()
            return 0  # the control plane ended (or failed to start) before it listened
        session_kwargs["address"], session_kwargs["join_token"] = address, join_token
    home.write_pid()
    serving = serving or ServingOptions()
    advertise = serving.advertise_address or address_towards(session_kwargs["address"])
    daemon = signals.daemon = AgentDaemon(home, work_dir, launcher, use_cgroups, advertise, serving.ports)
    await daemon.start()
    session = AgentSession(daemon=daemon, home=home, **session_kwargs)
    tasks = TaskOwner()
    running = [tasks.spawn(session.run_forever(), "session"), tasks.spawn(signals.requested.wait(), "signals")]
    if local is not None:
        running.append(tasks.spawn(_watch_parent(local, session, daemon, grace_s), "parent"))
    done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
    status = 0
    for task in done:
        error = None if task.cancelled() else task.exception()
        if isinstance(error, RegistrationRefusedError):
            log.error("registration_refused", reason=str(error))
            status = error.exit_code
        elif error is not None:
            log.error("agent_failed", task=task.get_name(), error=repr(error))
            status = ExitCode.FAILED
    if stop_works_on_exit and local is None:
        # Leave first, so that no work is placed here while the works stop: the control plane learns from the
        # engine (or the agent-lost grace) that this agent's works are lost, and their restart policies decide.
        await tasks.close()
        await daemon.stop_all(grace_s, "agent stopping")
    elif local is not None:  # a local agent told to stop: nothing of the app outlives it
        await daemon.stop_all(grace_s, "agent stopping")
    await tasks.close()
    await signals.kills.close()
    await daemon.close()
    home.remove_pid()
    log.info("agent_stopped")
    return status
