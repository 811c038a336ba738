"""The plain types of the app's store, shared by the control plane, the agents and the codec (not by app code).

Artifacts are named by (origin work, kind, name); their content is content-addressed: every file is a blob named by
its sha256.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of an artifact or a Drive: where it goes and what it holds."""

    path: str
    """POSIX path relative to the artifact's root ("" for an artifact that is a single file)."""
    digest: str
    """Hex sha256 of the content (the blob's name)."""
    size: int
    mode: int = 0o644
    """Permission bits to give the copy."""


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file or folder a work persisted to the store."""

    work_name: str
    kind: str
    """``path`` or ``payload``."""
    name: str
    """The path as the work wrote it, or the Payload's attribute name."""
    is_dir: bool
    files: tuple[FileEntry, ...]
    persisted_at: float = 0.0
    """Epoch seconds."""
    dirs: tuple[str, ...] = ()
    """Folders of a folder artifact that hold no file (so that empty folders come back too)."""

    @property
    def size(self) -> int:
        """Bytes of all its files."""
        return sum(entry.size for entry in self.files)


@dataclass(frozen=True, slots=True)
class DriveFile:
    """A file put in a Drive by one component."""

    drive_id: str
    component: str
    path: str
    """POSIX path relative to the component's part of the Drive."""
    digest: str
    size: int
    mode: int = 0o644
    put_at: float = 0.0


@dataclass(frozen=True, slots=True)
class UploadRequested:
    """The control plane asks the agent of (work_name, attempt) for a Path it has not persisted yet."""

    work_name: str
    attempt: int
    name: str
    """The path as the work wrote it; the agent serves it only from inside the work's working directory."""
    request_id: str


@dataclass(frozen=True, slots=True)
class PersistOutcome:
    """What became of one item a work asked to persist."""

    kind: str
    name: str
    persisted: bool
    problem: str = ""
    """Why not ("" when persisted): the file is missing, the store is full..."""
