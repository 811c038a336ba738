"""A cgroup (v2) per work, where this machine lets the agent make one.

Every process a work starts stays in it, even one that left the work's process group (``setsid``, a daemon's
double fork), so stopping the work reaches all of them.

    agent: create(<agent's cgroup>/lightning-works/<agent>/<work>.<attempt>) ─► the path goes in the work's
    environment (WORK_CGROUP_VAR) ─► the work process joins it first thing, before any user code runs ─► stop:
    signal every process in it, then ``cgroup.kill`` ─► remove it once empty

Standard library only: the work runner and the fork server use it too. Where cgroup v2 is not mounted or not
writable, :func:`works_root` returns None and the agent tracks descendants instead (``agent.containment``), the
work process then being the "child subreaper" of what it starts.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

WORK_CGROUP_VAR = "LIGHTNING_CTL_WORK_CGROUP"
"""Set in a work's environment: the cgroup it joins as it starts."""
_ROOT_NAME = "lightning-works"
_PR_SET_CHILD_SUBREAPER = 36
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def _mount_point() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (``/sys/fs/cgroup``, or ``.../unified`` on hybrid systems)."""
    try:
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            if right.split(" ", 1)[0] == "cgroup2":
                return Path(left.split()[4])
    except OSError:
        pass
    return None


def cgroup_of(pid: int | str = "self") -> Path | None:
    """The cgroup v2 folder of process ``pid`` (None without cgroup v2)."""
    mount = _mount_point()
    if mount is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return mount / line[3:].lstrip("/")
    except OSError:
        pass
    return None


def works_root(owner: str) -> Path | None:
    """The folder under which this agent makes its works' cgroups (created), or None where it cannot."""
    own = cgroup_of()
    if own is None:
        return None
    root = own / _ROOT_NAME / _UNSAFE.sub("_", owner)
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root / "cgroup.procs", os.W_OK):
            return None
    except OSError:
        return None
    for left in root.iterdir():  # the empty cgroups of works a killed agent could not remove
        if left.is_dir() and not members(left):
            remove(left, timeout_s=0)
    return root


def create(root: Path, work_name: str, attempt: int) -> Path | None:
    """The cgroup for one work process (created), or None if it cannot be made."""
    path = root / _UNSAFE.sub("_", f"{work_name}.{attempt}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path


def work_cgroup_of(pid: int) -> Path | None:
    """The work cgroup process ``pid`` is in, if it is in one the agent made."""
    path = cgroup_of(pid)
    return path if path is not None and _ROOT_NAME in path.parts else None


def join(path: str | os.PathLike[str], pid: int | None = None) -> bool:
    """Move ``pid`` (default: this process) into the cgroup at ``path``; whether it worked."""
    try:
        Path(path, "cgroup.procs").write_text(f"{pid or os.getpid()}\n")
        return True
    except OSError:
        return False


def contain_this_work() -> None:
    """In a work process, before any user code: join the cgroup the agent made for it.

    Without one, become the "child subreaper" of its descendants, so that a daemon it starts (double fork)
    stays its descendant instead of being adopted by init, where the agent could not tell it from any other
    process.
    """
    path = os.environ.get(WORK_CGROUP_VAR)
    if path and join(path):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the process group and the tag remain


def members(path: str | os.PathLike[str]) -> list[int]:
    """The processes in the cgroup at ``path`` (none if it is gone)."""
    try:
        return [int(pid) for pid in Path(path, "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def signal_members(path: str | os.PathLike[str], sig: signal.Signals) -> list[int]:
    """Send ``sig`` to every process in the cgroup; the pids signalled.

    SIGKILL goes through ``cgroup.kill`` where the kernel has it, which also catches a process forking
    meanwhile.
    """
    pids = members(path)
    if sig == signal.SIGKILL:
        try:
            Path(path, "cgroup.kill").write_text("1\n")
            return pids
        except OSError:
            pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    return pids


def remove(path: str | os.PathLike[str], timeout_s: float = 1.0) -> bool:
    """Remove the cgroup once its processes are gone; whether it is gone.

    Killed processes are waited for up to ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


def signal_group(pid: int, sig: signal.Signals) -> None:
    """``sig`` to the process group a work process leads.

    Or to the process alone, if it has not called setsid() yet: its group does not exist then.
    """
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    except PermissionError:
        pass
