"""The orphan rule of a fork server: what happens to its works once the agent that started them is gone.

A pure decision (the time and whether an agent runs from the home in, what to do now out), so that it is tested
without processes; the fork server carries it out.

    agent gone ─► orphaned ──(an agent runs from the home again)──► adopted ─► (gone again: orphaned again)
                     └──(orphan timeout)──► stop (SIGTERM) ──(grace)──► kill (SIGKILL)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OrphanSettings:
    """What a fork server does with its works once its agent is gone."""

    timeout_s: float = 300.0
    """How long the works keep running with no agent before they are stopped."""
    stop_grace_s: float = 30.0
    """Between SIGTERM and SIGKILL, when they are."""
    agent_pid_file: str = ""
    """``<pid> <start time>`` of the agent running from the home (a restarted agent writes it again)."""
    log_format: str = "console"


class OrphanRule:
    """The orphan timeout as a pure decision: the time and whether an agent runs in, what to do now out."""

    def __init__(self, settings: OrphanSettings) -> None:
        self.settings = settings
        self.orphaned_at: float | None = None
        self.stopping_at: float | None = None
        self.killed = False

    def decide(self, now: float, agent_present: bool) -> str | None:
        """One of "orphaned", "adopted", "stop", "kill" when something changes, else None."""
        if self.stopping_at is not None:
            if not self.killed and now - self.stopping_at >= self.settings.stop_grace_s:
                self.killed = True
                return "kill"
            return None
        if agent_present:
            if self.orphaned_at is not None:
                self.orphaned_at = None
                return "adopted"
            return None
        if self.orphaned_at is None:
            self.orphaned_at = now
            return "orphaned"
        if now - self.orphaned_at >= self.settings.timeout_s:
            self.stopping_at = now
            return "stop"
        return None


def agent_running(pid_file: str) -> bool:
    """Whether the agent recorded in ``pid_file`` (``<pid> <start time>``) runs now."""
    try:
        pid_text, started = Path(pid_file).read_text().split()
    except (OSError, ValueError):
        return False
    import psutil  # only once orphaned: forks are over, and the common path does not pay for it

    try:
        process = psutil.Process(int(pid_text))
        return abs(process.create_time() - float(started)) < 0.01 and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, ValueError):
        return False


