"""StorageCoordinator: the control plane's side of moving files between works (asyncio side, plain types).

    producer's agent ──UploadBlob──► staging ──verified──► blobs/ ◄──DownloadBlob── consumer's agent
                    ──CommitArtifact──► artifacts/                ◄──ResolveArtifact──
                                            ▲ not persisted yet, origin running: UploadArtifact to its agent

Files travel agent -> control plane -> agent over the agents' own connections: agents dial out to the control plane
and need not reach each other (NAT, firewalls, pods, batch nodes), hold no credential for each other, and a file
persisted once stays available after its producer stopped or died, and after the app ended (``lightning-ctl cp``).
"""

from __future__ import annotations

import asyncio
import errno
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

import structlog

from lightning_ctl.controlplane.errors import StorageFault
from lightning_ctl.controlplane.storage.store import ArtifactStore, check_digest, under
from lightning_ctl.sdk._content import CHUNK_BYTES, ContentError, check_relative
from lightning_ctl.sdk._storage import PATH_KIND
from lightning_ctl.sdk._storage_types import Artifact, DriveFile, FileEntry, UploadRequested

if TYPE_CHECKING:
    from lightning_ctl.controlplane.agents.registry import AgentRegistry

log = structlog.get_logger(component="storage")

ON_DEMAND_TIMEOUT_S = 600.0
"""The longest a consumer waits for a running origin's agent to persist a Path it asked for."""
_AGENT_CHECK_S = 1.0
ArtifactKey = tuple[str, str, str]


def _is_no_space(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


class StorageCoordinator:
    """Serves blobs, records what works persist and put in Drives, and asks running origins for what is missing."""

    def __init__(self, store: ArtifactStore, registry: AgentRegistry | None = None) -> None:
        """Serve ``store``; ``registry`` routes on-demand requests to origins' agents (none: no on-demand)."""
        self.store = store
        self._registry = registry
        self._blob_locks: dict[str, asyncio.Lock] = {}
        self._drive_locks: dict[str, asyncio.Lock] = {}
        self._problems: dict[ArtifactKey, str] = {}
        """Why a work could not persist an artifact, until it does."""
        self._asking: dict[ArtifactKey, asyncio.Future[Artifact | str]] = {}
        self._requests: dict[str, ArtifactKey] = {}
        self._drive_changed = asyncio.Condition()

    # -- blobs ----------------------------------------------------------------------------------------------------

    async def stat_blob(self, digest: str) -> tuple[bool, int]:
        """``(stored, bytes of an interrupted upload kept)``."""
        check_digest(digest)
        if await asyncio.to_thread(self.store.has_blob, digest):
            return True, 0
        return False, await asyncio.to_thread(self.store.partial_bytes, digest)

    async def receive_blob(
        self, digest: str, size: int, offset: int, owner: str, chunks: AsyncIterator[bytes]
    ) -> tuple[bool, int]:
        """Take an upload of ``digest`` from ``offset``; ``(stored, bytes kept)`` when the stream ends.

        Args:
            digest: The blob's hex sha256.
            size: Its size in bytes.
            offset: Where the upload starts: what :meth:`stat_blob` said is kept.
            owner: Whose file it is, for messages ("root.producer's data.bin").
            chunks: The bytes.

        Raises:
            StorageFault: the offset is not what is kept (RESUME_ELSEWHERE), the store is full (NO_SPACE), or the
                bytes do not match the digest (CORRUPT).
        """
        check_digest(digest)
        if size < 0 or offset < 0:
            raise StorageFault(f"upload of {owner}: negative size or offset", code=StorageFault.INVALID)
        async with self._blob_locks.setdefault(digest, asyncio.Lock()):
            if await asyncio.to_thread(self.store.has_blob, digest):
                return True, 0
            try:
                upload = await asyncio.to_thread(self.store.begin_blob, digest, size)
            except OSError as exc:
                raise self._storage_error(exc, owner, size) from None
            try:
                if upload.offset != offset:
                    raise StorageFault(f"upload of {owner}: resume from byte {upload.offset}",
                                       code=StorageFault.RESUME_ELSEWHERE)
                async for data in chunks:
                    await asyncio.to_thread(upload.write, data)
                if upload.offset < size:
                    return False, upload.offset  # the sender stopped early: kept, to resume
                await asyncio.to_thread(self.store.commit_blob, upload)
            except ContentError as exc:
                upload.discard()
                raise StorageFault(f"upload of {owner}: {exc}", code=StorageFault.CORRUPT) from None
            except OSError as exc:
                if _is_no_space(exc):
                    upload.discard()
                raise self._storage_error(exc, owner, size) from None
            finally:
                upload.close()
        log.debug("blob_stored", digest=digest[:12], bytes=size, owner=owner)
        return True, 0

    def _storage_error(self, exc: OSError, owner: str, size: int) -> StorageFault:
        if _is_no_space(exc):
            return StorageFault(
                f"the app's store ({self.store.description}) has no space left for {owner} ({size} bytes): "
                f"{exc.strerror or exc}",
                code=StorageFault.NO_SPACE,
            )
        return StorageFault(f"the app's store could not take {owner}: {exc}", code=StorageFault.CORRUPT)

    async def send_blob(self, digest: str, offset: int) -> AsyncIterator[bytes]:
        """The bytes of ``digest`` from ``offset``, in chunks (read one at a time: bounded memory).

        Raises:
            StorageFault: the blob is not stored (NOT_FOUND).
        """
        check_digest(digest)
        try:
            reader = await asyncio.to_thread(self.store.open_blob, digest, offset)
        except FileNotFoundError:
            raise StorageFault(f"no blob {digest[:12]} in the app's store", code=StorageFault.NOT_FOUND) from None
        try:
            while data := await asyncio.to_thread(reader.read, CHUNK_BYTES):
                yield data
        finally:
            reader.close()

    # -- artifacts ------------------------------------------------------------------------------------------------

    async def commit_artifact(self, artifact: Artifact, problem: str = "", request_id: str = "",
                              agent_id: str = "") -> None:
        """Record what a work persisted (its blobs stored), or ``problem``: why it could not.

        Raises:
            StorageFault: the work runs on another agent than ``agent_id`` (a replaced attempt must not overwrite
                what the current one persists: INVALID), a file's path is unsafe (INVALID) or its blob was not
                uploaded (NOT_FOUND).
        """
        placement = self._registry.placements.get(artifact.work_name) if self._registry is not None else None
        if placement is not None and agent_id and placement.allocation.agent_id != agent_id:
            raise StorageFault(f"{artifact.work_name} runs on another agent now: what agent {agent_id} persisted for "
                               "it is refused", code=StorageFault.INVALID)
        key = (artifact.work_name, artifact.kind, artifact.name)
        outcome: Artifact | str
        if problem:
            self._problems[key] = problem
            outcome = problem
            log.info("artifact_not_persisted", work_name=artifact.work_name, name=artifact.name, reason=problem)
        else:
            self._check_files(artifact.files, f"{artifact.work_name}'s {artifact.name}")
            await self._require_blobs(artifact.files, f"{artifact.work_name}'s {artifact.name}")
            await asyncio.to_thread(self.store.put_artifact, artifact)
            self._problems.pop(key, None)
            outcome = artifact
            log.debug("artifact_persisted", work_name=artifact.work_name, name=artifact.name, files=len(artifact.files))
        answered = self._requests.pop(request_id, None) if request_id else None
        waiter = self._asking.get(answered or key)
        if waiter is not None and (request_id or not problem) and not waiter.done():
            waiter.set_result(outcome)

    @staticmethod
    def _check_files(files: Sequence[FileEntry], owner: str) -> None:
        for entry in files:
            try:
                check_relative(entry.path, owner)
                check_digest(entry.digest)
            except ValueError as exc:
                raise StorageFault(str(exc), code=StorageFault.INVALID) from None

    async def _require_blobs(self, files: Sequence[FileEntry], owner: str) -> None:
        missing = await asyncio.to_thread(self.store.missing_blobs, [f.digest for f in files])
        if missing:
            raise StorageFault(f"{owner}: {len(missing)} file(s) were not uploaded (e.g. {missing[0][:12]})",
                               code=StorageFault.NOT_FOUND)

    async def resolve_artifact(self, work_name: str, kind: str, name: str, consumer: str = "") -> Artifact:
        """What ``work_name`` persisted as ``name``; a Path not persisted yet is asked of its running origin.

        Raises:
            StorageFault: it is not in the store and cannot be had from the origin (NOT_FOUND, with the cause).
        """
        artifact = await asyncio.to_thread(self.store.get_artifact, work_name, kind, name)
        if artifact is not None:
            return artifact
        key = (work_name, kind, name)
        origin = self._origin_agent(work_name)
        if kind != PATH_KIND or isinstance(origin, str):
            problem = self._problems.get(key)
            if problem:
                cause = f"{work_name} could not persist it: {problem}"
            elif isinstance(origin, str):
                cause = f"{work_name} never persisted it, and {origin}"
            else:
                cause = f"{work_name} has not persisted it yet (a Payload is persisted when the work's call ends)"
            raise StorageFault(cause, code=StorageFault.NOT_FOUND)
        outcome = await self._ask_origin(key, origin)
        if isinstance(outcome, str):
            raise StorageFault(outcome, code=StorageFault.NOT_FOUND)
        return outcome

    def _origin_agent(self, work_name: str) -> tuple[int, str] | str:
        """``(attempt, agent id)`` running ``work_name`` now, or why there is none."""
        registry = self._registry
        placement = registry.placements.get(work_name) if registry is not None else None
        if placement is None:
            return "it has no running process to copy it from (it stopped, failed or never started)"
        agent_id = placement.allocation.agent_id
        if registry is None or agent_id not in registry.agents:
            return f"the agent running {work_name} is disconnected"
        return placement.attempt, agent_id

    async def _ask_origin(self, key: ArtifactKey, origin: tuple[int, str]) -> Artifact | str:
        """Have the origin's agent persist the Path now (one request for any number of consumers asking)."""
        waiter = self._asking.get(key)
        if waiter is None or waiter.done():
            waiter = self._asking[key] = asyncio.get_running_loop().create_future()
            request_id = uuid.uuid4().hex
            self._requests[request_id] = key
            attempt, agent_id = origin
            assert self._registry is not None
            self._registry.route([UploadRequested(key[0], attempt, key[2], request_id)])  # type: ignore[list-item]
            log.info("artifact_requested", work_name=key[0], name=key[2], agent_id=agent_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ON_DEMAND_TIMEOUT_S
        try:
            while True:
                try:
                    return await asyncio.wait_for(asyncio.shield(waiter), _AGENT_CHECK_S)
                except asyncio.TimeoutError:
                    pass
                if isinstance(still := self._origin_agent(key[0]), str):
                    return f"{key[0]} went away before handing it over: {still}"
                if loop.time() > deadline:
                    return f"{key[0]}'s agent did not hand it over within {ON_DEMAND_TIMEOUT_S:.0f}s"
        finally:
            if waiter.done() and self._asking.get(key) is waiter:
                del self._asking[key]

    async def list_artifacts(self, work_name: str = "") -> list[Artifact]:
        """The artifacts of ``work_name`` (every work's with "")."""
        return await asyncio.to_thread(self.store.list_artifacts, work_name or None)

    # -- drives ---------------------------------------------------------------------------------------------------

    async def put_drive_files(
        self, drive_id: str, component: str, path: str, files: list[FileEntry], allow_duplicates: bool
    ) -> None:
        """``component`` put ``path`` (a file or a folder) in the Drive: its files there become ``files``.

        Raises:
            StorageFault: a bad path (INVALID), a blob not uploaded (NOT_FOUND), or another component has ``path``
                and duplicates are not allowed (EXISTS).
        """
        owner = f"{component}'s {path!r} in Drive {drive_id!r}"
        _check_names(drive_id, component)
        self._check_files(files, owner)
        await self._require_blobs(files, owner)
        async with self._drive_lock(drive_id):
            if not allow_duplicates:
                existing = await asyncio.to_thread(self.store.drive_files, drive_id)
                others = sorted({f.component for f in existing
                                 if f.component != component and (under(f.path, path) or under(path, f.path))})
                if others:
                    raise StorageFault(
                        f"{path!r} is in Drive {drive_id!r} already (put by {', '.join(others)}); create the Drive "
                        "with allow_duplicates=True to let several components put the same path",
                        code=StorageFault.EXISTS,
                    )
            await asyncio.to_thread(self.store.replace_drive_files, drive_id, component, path, files)
        log.debug("drive_files_put", drive_id=drive_id, component=component, path=path, files=len(files))
        async with self._drive_changed:
            self._drive_changed.notify_all()

    def _drive_lock(self, drive_id: str) -> asyncio.Lock:
        """One writer per Drive at a time: the duplicate check and the write must see the same Drive."""
        return self._drive_locks.setdefault(drive_id, asyncio.Lock())

    async def list_drive(self, drive_id: str, component: str = "", path: str = ".") -> list[DriveFile]:
        """The Drive's files at or under ``path`` (of ``component`` only, when given)."""
        files = await asyncio.to_thread(self.store.drive_files, drive_id, component or None)
        return [f for f in files if under(f.path, path)]

    async def drive_ids(self) -> list[str]:
        """The Drives holding files."""
        return await asyncio.to_thread(self.store.drive_ids)

    async def resolve_drive(self, drive_id: str, component: str, path: str, timeout_s: float) -> list[DriveFile]:
        """The files a ``Drive.get(path)`` copies: one component's (the given one, or the only one that has it).

        Raises:
            StorageFault: no component has it after ``timeout_s`` (NOT_FOUND), or several do (INVALID).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout_s)
        while True:
            async with self._drive_changed:
                matching = await self.list_drive(drive_id, component, path)
                components = sorted({f.component for f in matching})
                if len(components) == 1:
                    return matching
                if len(components) > 1:
                    raise StorageFault(
                        f"several components put {path!r} in Drive {drive_id!r} ({', '.join(components)}); pass "
                        "component_name= to choose", code=StorageFault.INVALID)
                remaining = deadline - loop.time()
                if remaining <= 0:
                    part = f" in {component}'s part" if component else ""
                    waited = f" (waited {timeout_s:g}s)" if timeout_s > 0 else ""
                    raise StorageFault(f"Drive {drive_id!r} has no {path!r}{part}{waited}", code=StorageFault.NOT_FOUND)
                try:
                    await asyncio.wait_for(self._drive_changed.wait(), remaining)
                except asyncio.TimeoutError:
                    pass

    async def delete_drive_files(self, drive_id: str, component: str, path: str) -> None:
        """Delete ``component``'s file or folder ``path`` from the Drive.

        Raises:
            StorageFault: it has no such path there (NOT_FOUND).
        """
        _check_names(drive_id, component)
        async with self._drive_lock(drive_id):
            removed = await asyncio.to_thread(self.store.delete_drive_files, drive_id, component, path)
        if not removed:
            raise StorageFault(f"{component} has no {path!r} in Drive {drive_id!r}", code=StorageFault.NOT_FOUND)
        log.debug("drive_files_deleted", drive_id=drive_id, component=component, path=path, files=removed)


def _check_names(drive_id: str, component: str) -> None:
    if not drive_id or "/" in drive_id or not component:
        raise StorageFault(f"invalid Drive {drive_id!r} or component {component!r}", code=StorageFault.INVALID)

