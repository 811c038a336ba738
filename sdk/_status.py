"""Status vocabulary: the stages, reasons and status records of works and apps.

A work's status lives in its call ledger (``calls[<hash>]["statuses"]``) as plain dicts made by
:func:`make_status`; :class:`WorkStatus` is the typed view of one of them.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any

__all__ = [
    "AppStage",
    "AppStatus",
    "CacheCallsKeys",
    "WorkFailureReasons",
    "WorkStageStatus",
    "WorkStatus",
    "WorkStopReasons",
    "make_status",
]


class _StrEnum(str, enum.Enum):
    """A string enum whose members print as their value (``enum.StrEnum`` needs Python 3.11)."""

    def __str__(self) -> str:
        return str(self.value)


class WorkStageStatus(_StrEnum):
    """Stage of a work's latest call, as reported by ``work.status.stage``."""

    NOT_STARTED = "not_started"
    STARTED = "started"
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"


class WorkFailureReasons(_StrEnum):
    """Why a work's call ended in ``failed``."""

    TIMEOUT = "timeout"
    SPOT_RETRIVAL = "spot_retrival"
    """Kept with the reference's spelling, which apps compare against."""
    USER_EXCEPTION = "user_exception"
    INVALID_RETURN_VALUE = "invalid_return_value"
    PROCESS_EXITED = "process_exited"
    """lightning-ctl: the work process exited without reporting an outcome."""
    AGENT_LOST = "agent_lost"
    """lightning-ctl: the agent running the work stopped heartbeating."""
    INVALID_EVENT = "invalid_event"
    """lightning-ctl: the work sent what the control plane refuses (a value that does not decode, a private or
    undeclared attribute, an oversized value); its process was stopped."""
    PORT_UNAVAILABLE = "port_unavailable"
    """lightning-ctl: its agent could not give it a port (the one it asked for is in use, or its range is full)."""


class WorkStopReasons(_StrEnum):
    """Why a work's call ended in ``stopped``."""

    SIGTERM_SIGNAL_HANDLER = "sigterm_signal_handler"
    PENDING = "pending"
    KILLED = "killed_after_grace"
    """lightning-ctl: the work ignored SIGTERM and was killed when its grace period ran out."""
    IDLE_TIMEOUT = "idle_timeout"
    """lightning-ctl: its process was stopped after ``CloudCompute.idle_timeout`` seconds without a call; the
    work's next call starts it again."""


class AppStage(_StrEnum):
    """Stage of the whole app (``app_state["stage"]``)."""

    BLOCKING = "blocking"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    FAILED = "failed"


class CacheCallsKeys(_StrEnum):
    """Reserved keys of a work's call ledger."""

    LATEST_CALL_HASH = "latest_call_hash"


def make_status(stage: str, message: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """Build one status entry for a work's call ledger.

    Args:
        stage: A :class:`WorkStageStatus` value.
        message: Human-readable detail, such as a traceback; omitted when empty.
        reason: A :class:`WorkFailureReasons` or :class:`WorkStopReasons` value; omitted when empty.

    Returns:
        ``{"stage": ..., "timestamp": <epoch seconds>}`` plus ``message`` and ``reason`` when they
        are truthy.
    """
    status: dict[str, Any] = {"stage": str(stage), "timestamp": time.time()}
    if message:
        status["message"] = message
    if reason:
        status["reason"] = reason
    return status


@dataclass(frozen=True, slots=True)
class WorkStatus:
    """The status of a work: the last status entry of its latest call."""

    stage: str
    """A :class:`WorkStageStatus` value."""
    timestamp: float
    """When the work entered ``stage``, in epoch seconds."""
    reason: str | None = None
    """A :class:`WorkFailureReasons` or :class:`WorkStopReasons` value, if any."""
    message: str | None = None
    """Human-readable detail, such as the traceback of a failed call."""
    count: int = 1
    """How many times this status was reported."""

    def __post_init__(self) -> None:
        # Enum members become plain strings so to_dict() output is JSON-clean.
        object.__setattr__(self, "stage", str(self.stage))
        if self.reason is not None:
            object.__setattr__(self, "reason", str(self.reason))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorkStatus:
        """Build a status from a status dict, such as one made by :func:`make_status`.

        Args:
            d: A dict with ``stage`` and ``timestamp`` and optionally ``reason``, ``message`` and
                ``count``. Other keys are ignored.

        Returns:
            The status.

        Raises:
            ValueError: ``stage`` or ``timestamp`` is missing.
        """
        missing = [key for key in ("stage", "timestamp") if key not in d]
        if missing:
            raise ValueError(f"work status is missing {', '.join(repr(key) for key in missing)}: {d!r}")
        return cls(
            stage=d["stage"],
            timestamp=float(d["timestamp"]),
            reason=d.get("reason"),
            message=d.get("message"),
            count=int(d.get("count", 1)),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the status as a JSON-ready dict with all five fields."""
        return {
            "stage": self.stage,
            "timestamp": self.timestamp,
            "reason": self.reason,
            "message": self.message,
            "count": self.count,
        }


@dataclass
class AppStatus:
    """The status of an app, as served by ``lightning-ctl status`` and ``/api/v1/status``."""

    is_ui_ready: bool
    """Whether the app's UI is ready to be served."""
    work_statuses: dict[str, WorkStatus]
    """The status of each work, by work name."""

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AppStatus:
        """Build an app status from the dict made by :meth:`to_dict`."""
        return cls(
            is_ui_ready=bool(d["is_ui_ready"]),
            work_statuses={
                name: WorkStatus.from_dict(status) for name, status in d.get("work_statuses", {}).items()
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the app status as a JSON-ready dict."""
        return {
            "is_ui_ready": self.is_ui_ready,
            "work_statuses": {name: status.to_dict() for name, status in self.work_statuses.items()},
        }
