"""What goes into the flow runtime besides work events (the flows' actions), and what comes out for the loop.

The flow runtime is a state machine: ``FlowRuntime.apply(stimulus) -> instructions``. Its stimuli are the flows'
actions below (and deadline checks) plus what the asyncio side reports (``WorkEvent``, ``PlacementPending``, ``AgentConnected``,
``WorkLost`` from ``sdk._events``); its instructions are commands for agents (``LaunchWork``, ``RunCall``,
``UpdateVars``, ``StopWork``) and the two below, for the loop itself. Each stimulus names itself (``cause``) and
each instruction carries the cause of the stimulus that produced it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Union

from lightning_ctl.sdk._events import (
    AgentConnected,
    LaunchWork,
    PlacementPending,
    RunCall,
    StopWork,
    UpdateVars,
    WorkEvent,
    WorkLost,
)

if TYPE_CHECKING:
    from lightning_ctl.sdk._work import LightningWork


@dataclass(frozen=True)
class _FlowActionOnWork:
    """A flow acted on one work; the action's name and the work's name it."""

    work: LightningWork
    _action: ClassVar[str] = ""

    @property
    def cause(self) -> str:
        """Names this action in what it causes, e.g. "flow_stopped root.trainer"."""
        return f"{self._action} {self.work.name}"


@dataclass(frozen=True)
class FlowCalledWork(_FlowActionOnWork):
    """A flow called ``work.run(*args, **kwargs)`` and the call is not cached: send it (pending is recorded)."""

    call_hash: str = ""
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    _action: ClassVar[str] = "flow_called"

    @property
    def cause(self) -> str:
        """Names this call in what it causes, e.g. "flow_called root.trainer 2f42888"."""
        return f"{super().cause} {self.call_hash}"


class FlowStartedWork(_FlowActionOnWork):
    """A flow (or the app's start) called ``work.start()``: start its process with the start action."""

    _action = "flow_started"


class FlowStoppedWork(_FlowActionOnWork):
    """A flow called ``work.stop()`` (its pending stopped status is recorded)."""

    _action = "flow_stopped"


@dataclass(frozen=True)
class FlowsRan:
    """The flows ran once: the flow's changes to running works' public attributes go to those works."""

    works: tuple[LightningWork, ...]
    tick: int = 0

    @property
    def cause(self) -> str:
        """Names this run in what it causes."""
        return f"flows_ran {self.tick}"


@dataclass(frozen=True)
class AppEnding:
    """The app is ending: every work launched and not exited is stopped."""

    reason: str
    grace_s: float

    @property
    def cause(self) -> str:
        """Names this ending in what it causes."""
        return "app_ending"


@dataclass(frozen=True)
class DeadlineCheck:
    """A deadline passed (``FlowRuntime.next_deadline``).

    Stop the works idle past their idle timeout, fail those waiting for a machine past their wait timeout.
    """

    @property
    def cause(self) -> str:
        """Names this check in what it causes."""
        return "deadline_check"


@dataclass(frozen=True, slots=True)
class RunFlows:
    """The flows' view of the works changed: run the flows again."""

    cause: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class FailApp:
    """A work failed the app: end it with this message."""

    work_name: str
    message: str
    cause: str = field(default="", compare=False)


Stimulus = Union[
    FlowCalledWork, FlowStartedWork, FlowStoppedWork, FlowsRan, AppEnding, DeadlineCheck,
    WorkEvent, PlacementPending, AgentConnected, WorkLost,
]
Instruction = Union[LaunchWork, RunCall, UpdateVars, StopWork, RunFlows, FailApp]
