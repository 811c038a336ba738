"""The plain types of the app's store, shared by the control plane, the agents and the codec.

App code never sees them. They say what the store holds, and what a work process asks its agent for.

Artifacts are named by (origin work, kind, name); their content is content-addressed: every file is a blob named by
its sha256.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Union


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


# -- a work process's requests to its agent (over the local socket), and the replies --------------------------------


@dataclass(frozen=True, slots=True)
class PersistItem:
    """One file or folder to persist."""

    kind: str
    name: str
    local_path: str
    """Absolute."""


@dataclass(frozen=True, slots=True)
class PersistAsk:
    """Persist these items of ``work_name`` to the app's store."""

    work_name: str
    items: tuple[PersistItem, ...]


@dataclass(frozen=True, slots=True)
class FetchAsk:
    """Copy ``origin``'s artifact to ``destination`` (absolute; replaced by the copy)."""

    origin: str
    kind: str
    name: str
    destination: str
    consumer: str


@dataclass(frozen=True, slots=True)
class ResolveAsk:
    """Whether ``origin``'s artifact can be had (answered in ``StorageReply.exists``)."""

    origin: str
    kind: str
    name: str
    consumer: str


@dataclass(frozen=True, slots=True)
class DrivePutAsk:
    """Put the local file or folder ``local_path`` (absolute) in ``component``'s part of a Drive as ``path``."""

    drive_id: str
    component: str
    local_path: str
    path: str
    allow_duplicates: bool = False


@dataclass(frozen=True, slots=True)
class DriveListAsk:
    """What a Drive holds under ``path`` (answered in ``StorageReply.names``); component "" for every one's."""

    drive_id: str
    component: str
    path: str


@dataclass(frozen=True, slots=True)
class DriveGetAsk:
    """Copy a Drive's ``path`` to ``destination`` (absolute), waiting up to ``timeout_s`` for it to appear."""

    drive_id: str
    component: str
    """"" for the one component that has it."""
    path: str
    destination: str
    timeout_s: float = 0.0
    overwrite: bool = False


@dataclass(frozen=True, slots=True)
class DriveDeleteAsk:
    """Delete ``component``'s ``path`` (a file or a folder) from a Drive."""

    drive_id: str
    component: str
    path: str


StorageAsk = Union[PersistAsk, FetchAsk, ResolveAsk, DrivePutAsk, DriveListAsk, DriveGetAsk, DriveDeleteAsk]


@dataclass(frozen=True, slots=True)
class StorageRequest:
    """A work process asks its agent.

    The reply carries the same ``request_id``. Every request is idempotent: a work process sends its pending
    ones again after it reconnects to a restarted agent.
    """

    request_id: int
    ask: StorageAsk


class FailureKind(str, Enum):
    """Why a storage request failed."""

    NOT_FOUND = "not_found"
    EXISTS = "exists"
    INVALID = "invalid"
    TRANSFER = "transfer"
    """The copy failed: no space, the control plane unreachable, a digest mismatch..."""


@dataclass(frozen=True, slots=True)
class StorageReply:
    """The agent's answer to a :class:`StorageRequest`."""

    request_id: int
    failure: FailureKind | None = None
    """Set: the request failed, ``message`` says why."""
    message: str = ""
    persisted: tuple[PersistOutcome, ...] = ()
    exists: bool = False
    names: tuple[str, ...] = ()
    """What a DriveListAsk found."""
