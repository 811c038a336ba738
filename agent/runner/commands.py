"""CommandSequencer: the control plane's commands for this work process, applied exactly once and in order.

The control plane numbers the calls and attribute updates of each attempt (``command_seq``, from 1) and sends again
every command the process has not confirmed after each reconnection (its own restart included: its checkpoint
records a command before the command leaves, so a number is never given to two commands). A command may therefore
arrive twice, or ahead of one sent again a moment later.

    command ─► seq <= applied ──────► dropped (delivered again: it ran or is queued)
            ─► seq > applied + 1 ───► kept aside until the commands before it arrive
            ─► seq == applied + 1 ──► applied, then each kept-aside one it made contiguous
            ─► seq 0 ───────────────► applied (unnumbered)
"""

from __future__ import annotations

from typing import Union

from lightning_ctl.sdk._events import RunCall, UpdateVars

Command = Union[RunCall, UpdateVars]


class CommandSequencer:
    """Which commands of this process were applied, and those waiting for an earlier one."""

    def __init__(self) -> None:
        self.applied_seq = 0
        """Every command up to this number was applied."""
        self._early: dict[int, Command] = {}

    def accept(self, command: Command) -> list[Command]:
        """The commands to apply now that ``command`` arrived, in order (none for a repeat or an early one)."""
        seq = command.command_seq
        if seq == 0:
            return [command]
        if seq <= self.applied_seq:
            return []
        if seq > self.applied_seq + 1:
            self._early.setdefault(seq, command)
            return []
        ready = [command]
        self.applied_seq = seq
        while (following := self._early.pop(self.applied_seq + 1, None)) is not None:
            ready.append(following)
            self.applied_seq += 1
        return ready
