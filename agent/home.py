"""AgentHome: what an agent keeps on disk, so that a restarted agent finds its works again.

    <home>/works.json    the work processes it runs (written atomically on every change)
    <home>/output/       each work process's stdout and stderr capture files
    <home>/exits/        how work processes ended, written by the fork server (which outlives the agent)
    <home>/bundles/      code bundles by digest (remote agents)
    <home>/works.sock    where work processes connect (a short path under /tmp when this one is too long)
    <home>/agent.lock    held (flock) by the agent running from this home: one at a time
    <home>/agent.pid     ``<pid> <start time>`` of that agent (its fork servers watch it)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path

from lightning_ctl.sdk._events import LaunchWork, launch_from_dict
from lightning_ctl.sdk._files import FileLock, LockHeld, write_atomic
from lightning_ctl.sdk.errors import LightningError

_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes


class AgentHomeInUseError(LightningError):
    """Another agent runs from this home (it owns its socket and its works)."""


@dataclasses.dataclass
class WorkRecord:
    """What the agent keeps on disk about one work process, to re-adopt it after a restart."""

    launch: LaunchWork
    pid: int = 0
    create_time: float = 0.0
    cwd: str | None = None
    stdout_offset: int = 0
    stderr_offset: int = 0
    cgroup: str = ""
    """The work's cgroup folder, if it has one (see ``agent.containment``)."""
    tag: str = ""
    """The tag in the environment of the work's processes."""


class AgentHome:
    """The folder of one agent (per agent name)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        for folder in (self.path, self.output_dir, self.exits_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock: FileLock | None = None

    def lock(self) -> None:
        """Claim this home for this process (until it ends), before taking its socket over.

        Raises:
            AgentHomeInUseError: another agent runs from it.
        """
        try:
            self._lock = FileLock(self.path / "agent.lock")
        except LockHeld as held:
            by = f" (pid {held.holder_pid})" if held.holder_pid else ""
            raise AgentHomeInUseError(
                f"another lightning-agent{by} runs from {self.path}: its socket {self.socket_path} is in use; "
                "give this agent another --name or --state-dir"
            ) from None

    @property
    def output_dir(self) -> Path:
        """Capture files of work output."""
        return self.path / "output"

    @property
    def exits_dir(self) -> Path:
        """Exit records written by the fork server."""
        return self.path / "exits"

    @property
    def bundles_dir(self) -> Path:
        """Cached code bundles."""
        return self.path / "bundles"

    @property
    def socket_path(self) -> str:
        """A stable socket path: the same after a restart, so that work processes find the new agent."""
        path = str(self.path / "works.sock")
        if len(path) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:16]
        return os.path.join(tempfile.gettempdir(), f"lightning-agent-{digest}.sock")

    @property
    def cgroup_name(self) -> str:
        """A name for this home's works' cgroups, unique per home on the machine."""
        digest = hashlib.sha256(str(self.path.resolve()).encode()).hexdigest()[:8]
        return f"{self.path.name}-{digest}"

    @property
    def pid_file(self) -> Path:
        """``<pid> <start time>`` of the agent running from this home."""
        return self.path / "agent.pid"

    def write_pid(self) -> None:
        """Record this process as the agent of this home."""
        import psutil

        me = psutil.Process()
        self.pid_file.write_text(f"{me.pid} {me.create_time()}\n")

    def remove_pid(self) -> None:
        """This agent is stopping."""
        try:
            self.pid_file.unlink()
        except FileNotFoundError:
            pass

    def load_records(self) -> list[WorkRecord]:
        """The work processes the previous agent recorded (none when there is no record)."""
        try:
            raw = json.loads((self.path / "works.json").read_text())
        except (FileNotFoundError, ValueError):
            return []
        records = []
        for entry in raw.get("works", []):
            records.append(WorkRecord(**{**entry, "launch": launch_from_dict(entry["launch"])}))
        return records

    def save_records(self, records: list[WorkRecord]) -> None:
        """Record the running work processes, atomically (a crash leaves the old or the new file, never half)."""
        write_atomic(self.path / "works.json", json.dumps({"works": [dataclasses.asdict(r) for r in records]}))
