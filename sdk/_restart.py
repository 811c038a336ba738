"""RestartPolicy: what happens when a work's process is lost (it died, or its agent was lost), not when it raised.

An exception in ``run`` is the user's outcome and is never retried (the call is failed, as in Lightning). A process
that vanished, or whose agent is gone for longer than the grace period, can be started again elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How a work whose process was lost is treated.

    Args:
        mode: "never" (the work fails with the reason) or "on_failure" (a new process is started, on any agent
            with the resources, and the call it was running is run again).
        max_restarts: how many new processes at most, over the life of the app.
        agent_lost_grace_s: how long the work's agent may stay disconnected before the work counts as lost;
            None uses the app's setting (``lightning-ctl run --agent-lost-grace``, 60 s by default).
    """

    mode: str = "never"
    max_restarts: int = 3
    agent_lost_grace_s: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("never", "on_failure"):
            raise ValueError(f"RestartPolicy.mode must be 'never' or 'on_failure', got {self.mode!r}")
        if self.max_restarts < 0:
            raise ValueError(f"RestartPolicy.max_restarts must be >= 0, got {self.max_restarts}")
        if self.agent_lost_grace_s is not None and self.agent_lost_grace_s < 0:
            raise ValueError(f"RestartPolicy.agent_lost_grace_s must be >= 0, got {self.agent_lost_grace_s}")

    @classmethod
    def never(cls, agent_lost_grace_s: float | None = None) -> RestartPolicy:
        """Fail the work when its process is lost."""
        return cls("never", 0, agent_lost_grace_s)

    @classmethod
    def on_failure(cls, max_restarts: int = 3, agent_lost_grace_s: float | None = None) -> RestartPolicy:
        """Start the work again elsewhere when its process is lost, at most ``max_restarts`` times."""
        return cls("on_failure", max_restarts, agent_lost_grace_s)

    def allows(self, restarts_so_far: int) -> bool:
        """Whether one more restart is allowed."""
        return self.mode == "on_failure" and restarts_so_far < self.max_restarts
