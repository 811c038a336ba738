"""Reading the app's store from ``lightning-ctl ls/cp``, and copying out of it to a local path.

The store is read through the running app's control plane or, once the app has ended, directly; an artifact or
Drive files are copied out.

A copy out is written like an agent's: each file to a hidden partial file beside its destination (an interrupted
``cp`` resumes), verified against its digest, renamed into place; a folder is built beside its destination and
swapped in whole.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from lightning_ctl.controlplane.errors import StoreError
from lightning_ctl.controlplane.storage.store import ArtifactStore, under
from lightning_ctl.sdk._content import (
    CHUNK_BYTES,
    PartialCopy,
    check_relative,
    make_dirs,
    staging_folder,
    swap_in,
)
from lightning_ctl.sdk._storage import PATH_KIND, PAYLOAD_KIND
from lightning_ctl.sdk._storage_types import Artifact, DriveFile, FileEntry
from lightning_ctl.sdk.errors import LightningError


class StoreReader(Protocol):
    """What ``ls`` and ``cp`` read (the running app's control plane, or an ended app's store)."""

    description: str

    async def drive_ids(self) -> list[str]:
        """The Drives holding files."""

    async def artifact_works(self) -> list[str]:
        """The works that persisted something."""

    async def artifacts(self, work_name: str) -> list[Artifact]:
        """The artifacts of ``work_name``."""

    async def drive_files(self, drive_id: str, component: str, path: str) -> list[DriveFile]:
        """The Drive's files at or under ``path`` (of ``component`` only, when not "")."""

    async def artifact(self, work_name: str, kind: str, name: str) -> Artifact:
        """One artifact (raises StoreError or a client error when it is not there)."""

    def blob(self, digest: str, offset: int) -> AsyncIterator[bytes]:
        """A blob's bytes from ``offset``."""


class LocalStoreReader:
    """An ended app's store, read directly (its folder, or its fsspec URL)."""

    def __init__(self, store: ArtifactStore) -> None:
        self._store = store
        self.description = store.description

    async def drive_ids(self) -> list[str]:
        """The Drives in the store."""
        return await asyncio.to_thread(self._store.drive_ids)

    async def artifact_works(self) -> list[str]:
        """The works that persisted something."""
        return await asyncio.to_thread(self._store.artifact_works)

    async def artifacts(self, work_name: str) -> list[Artifact]:
        """What ``work_name`` persisted."""
        return await asyncio.to_thread(self._store.list_artifacts, work_name)

    async def drive_files(self, drive_id: str, component: str, path: str) -> list[DriveFile]:
        """The Drive's files under ``path`` (of ``component`` only, when given)."""
        files = await asyncio.to_thread(self._store.drive_files, drive_id, component or None)
        return [f for f in files if under(f.path, path)]

    async def artifact(self, work_name: str, kind: str, name: str) -> Artifact:
        """What ``work_name`` persisted as ``name`` (StoreError when nothing)."""
        found = await asyncio.to_thread(self._store.get_artifact, work_name, kind, name)
        if found is None:
            raise StoreError(f"{work_name} persisted no {name!r} (in {self.description})")
        return found

    async def blob(self, digest: str, offset: int) -> AsyncIterator[bytes]:
        """The blob's content from ``offset`` on, chunk by chunk."""
        reader = await asyncio.to_thread(self._store.open_blob, digest, offset)
        try:
            while data := await asyncio.to_thread(reader.read, CHUNK_BYTES):
                yield data
        finally:
            reader.close()


async def find_artifact(reader: StoreReader, work_name: str, name: str) -> Artifact:
    """``work_name``'s Path ``name``, or else its Payload ``name``."""
    try:
        return await reader.artifact(work_name, PATH_KIND, name)
    except LightningError as path_error:
        payloads = [a for a in await reader.artifacts(work_name) if a.kind == PAYLOAD_KIND and a.name == name]
        if payloads:
            return payloads[0]
        raise path_error from None


def drive_entries(files: Sequence[DriveFile], path: str) -> tuple[bool, list[FileEntry]]:
    """``(is_dir, entries relative to path)`` for the Drive files of one component at or under ``path``."""
    if len(files) == 1 and files[0].path == path:
        return False, [FileEntry("", files[0].digest, files[0].size, files[0].mode)]
    prefix = "" if path in (".", "") else path + "/"
    return True, [FileEntry(f.path[len(prefix):], f.digest, f.size, f.mode) for f in files]


async def copy_out(reader: StoreReader, is_dir: bool, files: Sequence[FileEntry], dirs: Sequence[str],
                   destination: str, on_bytes: Callable[[int], None] = lambda n: None) -> None:
    """Write a file (or a folder of ``files``) from the store to ``destination``, replacing what is there.

    Raises:
        StoreError: the destination cannot be written (the message names it and why).
    """
    try:
        if not is_dir:
            await _copy_file(reader, files[0], destination, on_bytes)
            return
        for entry in files:
            check_relative(entry.path, destination)
        staging = staging_folder(destination, files)
        await asyncio.to_thread(make_dirs, staging, dirs)
        for entry in files:
            await _copy_file(reader, entry, os.path.join(staging, entry.path), on_bytes)
        await asyncio.to_thread(swap_in, staging, destination)
    except OSError as exc:
        raise StoreError(f"cannot write {destination}: {exc.strerror or exc}") from None


async def _copy_file(reader: StoreReader, entry: FileEntry, destination: str, on_bytes: Callable[[int], None]) -> None:
    os.makedirs(os.path.dirname(destination) or ".", exist_ok=True)
    copy = await asyncio.to_thread(PartialCopy, destination, entry.digest, entry.size)
    try:
        on_bytes(copy.offset)
        if copy.offset < entry.size:
            async for data in reader.blob(entry.digest, copy.offset):
                await asyncio.to_thread(copy.write, data)
                on_bytes(len(data))
        await asyncio.to_thread(copy.finish, entry.mode)
    finally:
        copy.close()
