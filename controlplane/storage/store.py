"""ArtifactStore: the app's files, content-addressed, and the records naming them.

    blobs/<aa>/<sha256>                               every file's content, once, named by its digest
    artifacts/<work>/<kind>/<name>.json               what a work persisted: a file or a folder of blobs
    drives/<drive id>/<component>.json                the files a component put in a Drive

(names quoted, so that no name can climb out of its folder). Uploads are kept in a local staging folder until whole
and verified, so an interrupted one resumes, and a store never holds a blob that does not match its name. The
methods block (file or network I/O): the control plane calls them from worker threads.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, unquote

from lightning_ctl.controlplane.storage.backends import Backend
from lightning_ctl.sdk._content import PartialCopy, check_relative, partial_path
from lightning_ctl.sdk._storage import ARTIFACT_KINDS
from lightning_ctl.sdk._storage_types import Artifact, DriveFile, FileEntry

_DIGEST = re.compile(r"[0-9a-f]{64}")
BLOBS = "blobs"
ARTIFACTS = "artifacts"
DRIVES = "drives"


def check_digest(digest: str) -> str:
    """``digest`` if it is 64 lowercase hex characters.

    Raises:
        ValueError: it is not.
    """
    if not isinstance(digest, str) or _DIGEST.fullmatch(digest) is None:
        raise ValueError(f"invalid digest {digest!r}: expected 64 lowercase hex characters")
    return digest


def _quote(text: str) -> str:
    """``text`` as one safe file name: no "/", and no leading "." (those names are temporaries)."""
    quoted = quote(text, safe="") or "%00"
    return "%2E" + quoted[1:] if quoted.startswith(".") else quoted


def under(path: str, folder: str) -> bool:
    """Whether the POSIX ``path`` is ``folder`` or inside it ("." is the root: everything is under it)."""
    return folder in (".", "") or path == folder or path.startswith(folder + "/")


class ArtifactStore:
    """Blobs, artifacts and Drives on a backend."""

    def __init__(self, backend: Backend, staging_dir: str | os.PathLike[str]) -> None:
        """Use ``backend``, keeping uploads in progress in the local folder ``staging_dir``."""
        self.backend = backend
        self.staging = Path(staging_dir)
        self.staging.mkdir(parents=True, exist_ok=True, mode=0o700)

    @property
    def description(self) -> str:
        """Where the store is (a folder or a URL)."""
        return self.backend.description

    # -- blobs ----------------------------------------------------------------------------------------------------

    @staticmethod
    def _blob_key(digest: str) -> str:
        return f"{BLOBS}/{digest[:2]}/{check_digest(digest)}"

    def has_blob(self, digest: str) -> bool:
        """Whether the blob is stored (whole and verified)."""
        return self.backend.exists(self._blob_key(digest))

    def _staged(self, digest: str) -> str:
        return str(self.staging / check_digest(digest))

    def partial_bytes(self, digest: str) -> int:
        """How much of an interrupted upload of the blob is kept."""
        try:
            return os.path.getsize(partial_path(self._staged(digest), digest))
        except FileNotFoundError:
            return 0

    def begin_blob(self, digest: str, size: int) -> PartialCopy:
        """A writer for an upload of the blob, resuming what an interrupted one left."""
        return PartialCopy(self._staged(digest), digest, size)

    def commit_blob(self, upload: PartialCopy) -> None:
        """Verify a complete upload and store it.

        Raises:
            sdk._content.ContentError: it does not match its digest or size (it is discarded).
        """
        upload.finish(0o600)
        self.backend.put_file(upload.destination, self._blob_key(upload.digest))

    def open_blob(self, digest: str, offset: int = 0) -> BinaryIO:
        """The blob for reading, from ``offset``.

        Raises:
            FileNotFoundError: it is not stored.
        """
        return self.backend.open_read(self._blob_key(digest), offset)

    def missing_blobs(self, digests: Iterable[str]) -> list[str]:
        """Those of ``digests`` that are not stored."""
        return [digest for digest in dict.fromkeys(digests) if not self.has_blob(digest)]

    # -- artifacts ------------------------------------------------------------------------------------------------

    @staticmethod
    def _artifact_key(work_name: str, kind: str, name: str) -> str:
        if kind not in ARTIFACT_KINDS:
            raise ValueError(f"unknown artifact kind {kind!r}")
        return f"{ARTIFACTS}/{_quote(work_name)}/{kind}/{_quote(name)}.json"

    def put_artifact(self, artifact: Artifact) -> None:
        """Record (or replace) what a work persisted (its blobs must be stored)."""
        record = {
            "work_name": artifact.work_name,
            "kind": artifact.kind,
            "name": artifact.name,
            "is_dir": artifact.is_dir,
            "files": [[f.path, f.digest, f.size, f.mode] for f in artifact.files],
            "dirs": list(artifact.dirs),
            "persisted_at": artifact.persisted_at or time.time(),
        }
        key = self._artifact_key(artifact.work_name, artifact.kind, artifact.name)
        self.backend.write_bytes(key, json.dumps(record).encode())

    def get_artifact(self, work_name: str, kind: str, name: str) -> Artifact | None:
        """What ``work_name`` persisted as ``name``, or None."""
        data = self.backend.read_bytes(self._artifact_key(work_name, kind, name))
        return _artifact_from_record(json.loads(data)) if data is not None else None

    def list_artifacts(self, work_name: str | None = None) -> list[Artifact]:
        """Every artifact (of ``work_name`` only, when given), by work then name."""
        prefix = f"{ARTIFACTS}/{_quote(work_name)}" if work_name else ARTIFACTS
        found = []
        for key in self.backend.list(prefix):
            data = self.backend.read_bytes(key)
            if data is not None:
                found.append(_artifact_from_record(json.loads(data)))
        return sorted(found, key=lambda a: (a.work_name, a.kind, a.name))

    def artifact_works(self) -> list[str]:
        """The works that persisted something."""
        return sorted({unquote(key.split("/")[1]) for key in self.backend.list(ARTIFACTS)})

    def drop_artifacts(self) -> None:
        """Forget every work's artifacts (a new run of the app starts; Drives stay)."""
        self.backend.delete_prefix(ARTIFACTS)

    # -- drives ---------------------------------------------------------------------------------------------------

    @staticmethod
    def _drive_key(drive_id: str, component: str) -> str:
        return f"{DRIVES}/{_quote(drive_id)}/{_quote(component)}.json"

    def drive_ids(self) -> list[str]:
        """The Drives holding files."""
        return sorted({unquote(key.split("/")[1]) for key in self.backend.list(DRIVES)})

    def drive_components(self, drive_id: str) -> list[str]:
        """The components that put files in the Drive."""
        keys = self.backend.list(f"{DRIVES}/{_quote(drive_id)}")
        return sorted(unquote(key.rpartition("/")[2][: -len(".json")]) for key in keys if key.endswith(".json"))

    def drive_files(self, drive_id: str, component: str | None = None) -> list[DriveFile]:
        """The files of the Drive (of ``component`` only, when given), by component then path."""
        components = [component] if component else self.drive_components(drive_id)
        files = []
        for name in components:
            index = self._read_index(drive_id, name)
            for path, (digest, size, mode, put_at) in sorted(index.items()):
                files.append(DriveFile(drive_id, name, path, digest, size, mode, put_at))
        return files

    def _read_index(self, drive_id: str, component: str) -> dict[str, list[Any]]:
        data = self.backend.read_bytes(self._drive_key(drive_id, component))
        return dict(json.loads(data)["files"]) if data is not None else {}

    def _write_index(self, drive_id: str, component: str, index: dict[str, list[Any]]) -> None:
        key = self._drive_key(drive_id, component)
        if not index:
            self.backend.delete(key)
            return
        record = {"drive_id": drive_id, "component": component, "files": index}
        self.backend.write_bytes(key, json.dumps(record).encode())

    def replace_drive_files(self, drive_id: str, component: str, path: str, files: list[FileEntry]) -> None:
        """``component`` put ``path``: its files there (at ``path`` or under it) are now ``files``."""
        check_relative("" if path == "." else path, "Drive path")
        index = {p: entry for p, entry in self._read_index(drive_id, component).items() if not under(p, path)}
        now = time.time()
        for file in files:
            index[check_relative(file.path, "Drive file")] = [file.digest, file.size, file.mode, now]
        self._write_index(drive_id, component, index)

    def delete_drive_files(self, drive_id: str, component: str, path: str) -> int:
        """Remove ``component``'s files at or under ``path``; how many there were."""
        index = self._read_index(drive_id, component)
        kept = {p: entry for p, entry in index.items() if not under(p, path)}
        if len(kept) != len(index):
            self._write_index(drive_id, component, kept)
        return len(index) - len(kept)

    # -- housekeeping ---------------------------------------------------------------------------------------------

    def collect_garbage(self) -> int:
        """Remove blobs no record names any more, and stale uploads; how many blobs were removed.

        Only safe while nothing uploads (the control plane runs it before it serves).
        """
        referenced = {f.digest for a in self.list_artifacts() for f in a.files}
        for drive_id in self.drive_ids():
            referenced.update(f.digest for f in self.drive_files(drive_id))
        removed = 0
        for key in self.backend.list(BLOBS):
            if key.rpartition("/")[2] not in referenced:
                self.backend.delete(key)
                removed += 1
        for leftover in self.staging.iterdir():
            if leftover.is_file():
                leftover.unlink(missing_ok=True)
        return removed


def _artifact_from_record(record: dict[str, Any]) -> Artifact:
    return Artifact(
        work_name=record["work_name"],
        kind=record["kind"],
        name=record["name"],
        is_dir=bool(record["is_dir"]),
        files=tuple(FileEntry(path, digest, size, mode) for path, digest, size, mode in record["files"]),
        persisted_at=float(record.get("persisted_at", 0.0)),
        dirs=tuple(record.get("dirs", ())),
    )
