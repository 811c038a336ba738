"""AgentHome: what an agent keeps on disk, so that a restarted agent finds its works again.

    <home>/agent-id      its identity (made once)
    <home>/credential    its agent credential, issued when it joined (0600; nothing else on the machine needs it)
    <home>/works.json    the work processes it runs (written atomically on every change)
    <home>/output/       each work process's stdout and stderr capture files
    <home>/exits/        how work processes ended, written by the fork server (which outlives the agent)
    <home>/bundles/      code bundles by digest (remote agents)
    <home>/works.sock    where work processes connect (a short path under /tmp when this one is too long)
    <home>/agent.lock    held (flock) by the one agent running from this home, with its pid
    <home>/agent.pid     ``<pid> <start time>`` of that agent (its fork servers watch it)

A home is one agent's identity (its agent id, its works, its socket), so one agent at a time runs from it:
``claim_home`` takes it for this process alone. Two agents started on one machine without ``--name`` take the
hostname's home and the next free ``<hostname>-2``, ``-3``... rather than sharing one identity (they would replace
each other's session, adopt each other's works and steal each other's socket).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path

from lightning_ctl.agent.errors import AgentHomeInUseError
from lightning_ctl.sdk._events import LaunchWork, launch_from_dict
from lightning_ctl.sdk._files import FileLock, LockHeld, write_atomic

_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes
_MAX_DEFAULT_HOMES = 64
"""How many agents one machine may start without --name (hostname, hostname-2, ...)."""


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

    @property
    def name(self) -> str:
        """The agent's name: its home's folder name."""
        return self.path.name

    def claim(self) -> bool:
        """Take this home for this process alone (until it exits); False when another live agent holds it.

        An OS lock (``FileLock``), not a pid file: it is released whatever way the holder ends, so a restarted agent
        gets its home (and its works) back at once. The processes the agent starts never inherit it.
        """
        try:
            self._lock = FileLock(self.path / "agent.lock")
        except LockHeld:
            return False
        return True

    def holder_pid(self) -> int | None:
        """The pid of the agent holding this home, as it wrote it (None when unknown)."""
        try:
            return int((self.path / "agent.lock").read_text().strip())
        except (OSError, ValueError):
            return None

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
    def credential_file(self) -> Path:
        """The agent credential the control plane issued when this agent joined."""
        return self.path / "credential"

    def load_credential(self) -> str:
        """The kept agent credential ("" when the agent has not joined yet)."""
        try:
            return self.credential_file.read_text().strip()
        except OSError:
            return ""

    def save_credential(self, credential: str) -> None:
        """Keep the agent credential (owner-only), for the next connection and the next start."""
        write_atomic(self.credential_file, credential + "\n")

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
        """Record the running work processes, atomically (a crash leaves the old or the new file, never half).

        A launch's API key is left out: its process holds it already, and no secret of a work goes to disk.
        """
        kept = [dataclasses.replace(r, launch=dataclasses.replace(r.launch, api_credential="")) for r in records]
        write_atomic(self.path / "works.json", json.dumps({"works": [dataclasses.asdict(r) for r in kept]}))


def claim_home(state_dir: str | os.PathLike[str], name: str | None, hostname: str) -> AgentHome:
    """The home this agent runs from, claimed for it alone.

    ``<state_dir>/<name>``, or without a name the first free one of ``<hostname>``, ``<hostname>-2``, ...

    Raises:
        AgentHomeInUseError: ``name`` was given and another live agent runs under it (or every default is taken).
    """
    if name:
        candidates = [name]
    else:
        candidates = [hostname] + [f"{hostname}-{index}" for index in range(2, _MAX_DEFAULT_HOMES + 1)]
    for candidate in candidates:
        home = AgentHome(Path(state_dir) / candidate)
        if home.claim():
            return home
    holder = AgentHome(Path(state_dir) / candidates[0]).holder_pid()
    by = f" (pid {holder})" if holder else ""
    if name:
        raise AgentHomeInUseError(
            f"another lightning-agent{by} already runs as {name!r} from {Path(state_dir) / name}: give this one its "
            "own --name (or --state-dir); two agents must never share one identity"
        )
    raise AgentHomeInUseError(f"{_MAX_DEFAULT_HOMES} agents already run from {state_dir}: pass --name")
