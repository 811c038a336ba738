"""WorkContainment: every process one work started, so that stopping the work stops all of it.

A work's processes may leave its process group (``setsid``, a daemon's double fork): a signal to the group misses
them. So each work process gets, where the machine allows it, a cgroup v2 of its own that it joins before any
user code runs (``agent.runner.cgroups``); everything it starts stays there. Elsewhere the work carries a tag in
its environment, inherited by whatever it starts, and is the "child subreaper" of its descendants (an orphan of its
subtree is re-parented to it, not to init); a stop also reaches the work's descendants and every process carrying
the tag (found with psutil). What the fallback cannot see: a process that both drops the tag from its environment
and outlives the work's main process when that process exits by itself.

    stop: SIGTERM to the group and to every member ─► grace ─► SIGKILL to all of them
    exit of the work's main process: SIGKILL to whatever of it is left, then the cgroup is removed
"""

from __future__ import annotations

import os
import signal
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from lightning_ctl.agent.runner import cgroups

WORK_TAG_VAR = "LIGHTNING_CTL_WORK_TAG"
"""Set in a work's environment (and so in its descendants'): how its processes are found without a cgroup."""


@dataclass
class WorkContainment:
    """The processes of one work process and its descendants."""

    cgroup: str = ""
    """The work's cgroup folder ("" where there is none)."""
    tag: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def create(cls, cgroups_root: Path | None, work_name: str, attempt: int) -> WorkContainment:
        """A containment for a new work process: its own cgroup under ``cgroups_root`` when there is one."""
        path = cgroups.create(cgroups_root, work_name, attempt) if cgroups_root is not None else None
        return cls(cgroup=str(path) if path else "")

    def environment(self) -> dict[str, str]:
        """What the work's environment needs for it to stay contained."""
        env = {WORK_TAG_VAR: self.tag}
        if self.cgroup:
            env[cgroups.WORK_CGROUP_VAR] = self.cgroup
        return env

    def signal_all(self, main_pid: int | None, sig: signal.Signals) -> None:
        """Send ``sig`` to the work's process group and to every other process of the work.

        Blocking: it scans processes when there is no cgroup; call it off the event loop.
        """
        others = [] if self.cgroup else _tagged_or_descended(main_pid, self.tag)  # before the work can exit
        if main_pid is not None:
            cgroups.signal_group(main_pid, sig)
        if self.cgroup:
            cgroups.signal_members(self.cgroup, sig)
        for process in others:
            try:
                process.send_signal(sig)
            except psutil.Error:
                pass

    def release(self) -> None:
        """Remove the cgroup (once its processes are gone; blocking for up to a second)."""
        if self.cgroup and os.path.isdir(self.cgroup):
            cgroups.remove(self.cgroup)


def _tagged_or_descended(main_pid: int | None, tag: str) -> list[psutil.Process]:
    """The live descendants of ``main_pid`` and every process whose environment carries ``tag``."""
    found: dict[int, psutil.Process] = {}
    if main_pid is not None:
        try:
            found.update((p.pid, p) for p in psutil.Process(main_pid).children(recursive=True))
        except psutil.Error:
            pass
    me = os.getpid()
    for process in psutil.process_iter():
        if process.pid in found or process.pid == me:
            continue
        try:
            if process.environ().get(WORK_TAG_VAR) == tag:
                found[process.pid] = process
        except (psutil.Error, OSError):
            continue
    return list(found.values())
