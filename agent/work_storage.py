"""AgentStorage: the agent serves its work processes' storage requests, on top of BlobTransfer.

It serves persist, get and Drive requests from its works, and the control plane's requests for Paths of its
running works.

    work process ──StorageRequest (local socket)──► AgentStorage ──StorageService (gRPC)──► control plane store
                 ◄──StorageReply───────────────────                ◄─UploadArtifact (on its stream)──

A request is idempotent: a work process that reconnects to a restarted agent sends its pending requests again, and
the new agent carries them out (resuming partial copies).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time

import structlog

from lightning_ctl.agent.errors import TransferFailure
from lightning_ctl.agent.transfer import UNARY_TIMEOUT_S, BlobTransfer
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import storage_pb2
from lightning_ctl.sdk._content import walk
from lightning_ctl.sdk._drive import drive_children
from lightning_ctl.sdk._storage import PATH_KIND
from lightning_ctl.sdk._storage_types import (
    Artifact,
    DriveDeleteAsk,
    DriveFile,
    DriveGetAsk,
    DriveListAsk,
    DrivePutAsk,
    FailureKind,
    FetchAsk,
    FileEntry,
    PersistAsk,
    PersistOutcome,
    ResolveAsk,
    StorageAsk,
    StorageReply,
    StorageRequest,
    UploadRequested,
)

log = structlog.get_logger(component="work_storage")


class AgentStorage(BlobTransfer):
    """Serves the storage requests of this agent's work processes through the control plane's StorageService."""

    # -- artifacts ------------------------------------------------------------------------------------------------

    async def persist(self, work_name: str, kind: str, name: str, local_path: str, request_id: str = ""
                      ) -> PersistOutcome:
        """Persist ``local_path`` as ``work_name``'s artifact; what became of it (never raises)."""
        try:
            artifact = await self._upload_artifact(work_name, kind, name, local_path)
            request = storage_pb2.CommitArtifactRequest(artifact=codec.artifact_to_pb(artifact), request_id=request_id)
            await self._call(f"recording {work_name}'s {name!r}", lambda stub, md: stub.CommitArtifact(
                request, metadata=md, timeout=UNARY_TIMEOUT_S))
            return PersistOutcome(kind, name, True)
        except TransferFailure as exc:
            problem = str(exc)
        empty = codec.artifact_to_pb(Artifact(work_name, kind, name, False, ()))
        request = storage_pb2.CommitArtifactRequest(artifact=empty, problem=problem, request_id=request_id)
        try:
            await self._call(f"recording {work_name}'s {name!r}", lambda stub, md: stub.CommitArtifact(
                request, metadata=md, timeout=UNARY_TIMEOUT_S))
        except TransferFailure:
            pass  # the control plane learns nothing; consumers get "never persisted"
        log.warning("artifact_not_persisted", work_name=work_name, name=name, reason=problem)
        return PersistOutcome(kind, name, False, problem)

    async def _upload_artifact(self, work_name: str, kind: str, name: str, local_path: str) -> Artifact:
        try:
            is_dir, files, dirs = await asyncio.to_thread(walk, local_path)
        except FileNotFoundError:
            raise TransferFailure(f"{local_path} did not exist when {work_name} persisted it",
                                  kind=FailureKind.NOT_FOUND) from None
        except OSError as exc:
            raise TransferFailure(f"cannot read {local_path}: {exc}") from None
        entries = await self.upload_files(files, work_name, name)
        return Artifact(work_name, kind, name, is_dir, tuple(entries), time.time(), tuple(dirs))

    async def resolve(self, origin: str, kind: str, name: str, consumer: str) -> Artifact:
        """The artifact ``origin`` persisted (or hands over now); raises TransferFailure (NOT_FOUND) otherwise."""
        request = storage_pb2.ResolveArtifactRequest(work_name=origin, kind=codec.kind_to_pb(kind), name=name,
                                                     consumer=consumer)
        pb = await self._call(f"asking for {origin}'s {name!r}", lambda stub, md: stub.ResolveArtifact(
            request, metadata=md))
        return codec.artifact_from_pb(pb)

    async def fetch(self, origin: str, kind: str, name: str, destination: str, consumer: str) -> None:
        """Copy ``origin``'s artifact to ``destination``, replacing what is there."""
        artifact = await self.resolve(origin, kind, name, consumer)
        owner = f"{origin}'s {name!r}"
        if artifact.is_dir:
            await self.materialize_tree(artifact.files, artifact.dirs, destination, owner)
            return
        await asyncio.to_thread(_remove_folder, destination)
        await self.materialize(artifact.files[0], destination, owner)

    async def upload_on_demand(self, command: UploadRequested, cwd: str) -> None:
        """The control plane asks for a Path of a running work: persist it, if it is inside the work's folder."""
        root, local = await asyncio.to_thread(_resolve_in, cwd, command.name)
        if os.path.commonpath([root, local]) != root:
            problem = f"{command.name!r} is outside {command.work_name}'s working directory ({root}): only files " \
                      "inside it are handed over before the work persists them"
            empty = codec.artifact_to_pb(Artifact(command.work_name, PATH_KIND, command.name, False, ()))
            request = storage_pb2.CommitArtifactRequest(artifact=empty, problem=problem, request_id=command.request_id)
            await self._call("answering the control plane", lambda stub, md: stub.CommitArtifact(
                request, metadata=md, timeout=UNARY_TIMEOUT_S))
            return
        await self.persist(command.work_name, PATH_KIND, command.name, local, command.request_id)

    # -- drives ---------------------------------------------------------------------------------------------------

    async def drive_put(self, drive_id: str, component: str, local_path: str, path: str,
                        allow_duplicates: bool) -> None:
        """Put the local file or folder in ``component``'s part of the Drive as ``path``."""
        try:
            is_dir, files, _ = await asyncio.to_thread(walk, local_path)
        except OSError as exc:
            raise TransferFailure(f"cannot read {local_path}: {exc}", kind=FailureKind.NOT_FOUND) from None
        entries = await self.upload_files(files, component, f"lit://{drive_id}/{path}")
        prefix = "" if path == "." else path + "/"
        placed = [FileEntry(prefix + e.path if is_dir else path, e.digest, e.size, e.mode) for e in entries]
        request = storage_pb2.PutDriveFilesRequest(drive_id=drive_id, component=component, path=path,
                                                   files=[codec.file_to_pb(e) for e in placed],
                                                   allow_duplicates=allow_duplicates)
        await self._call(f"putting {path!r} in Drive {drive_id!r}", lambda stub, md: stub.PutDriveFiles(
            request, metadata=md, timeout=UNARY_TIMEOUT_S))

    async def drive_files(self, drive_id: str, component: str, path: str) -> list[DriveFile]:
        """The Drive's files at or under ``path``."""
        request = storage_pb2.ListDriveRequest(drive_id=drive_id, component=component, path=path)
        reply = await self._call(f"listing Drive {drive_id!r}", lambda stub, md: stub.ListDrive(
            request, metadata=md, timeout=UNARY_TIMEOUT_S))
        return [codec.drive_file_from_pb(f) for f in reply.files]

    async def drive_get(self, ask: DriveGetAsk) -> None:
        """Copy a Drive's file or folder to ``ask.destination``."""
        request = storage_pb2.ResolveDriveRequest(drive_id=ask.drive_id, component=ask.component, path=ask.path,
                                                  timeout_s=ask.timeout_s)
        reply = await self._call(f"getting {ask.path!r} from Drive {ask.drive_id!r}",
                                 lambda stub, md: stub.ResolveDrive(request, metadata=md))
        files = [codec.drive_file_from_pb(f) for f in reply.files]
        owner = f"{ask.path!r} of Drive {ask.drive_id!r}"
        destination = ask.destination
        single = len(files) == 1 and files[0].path == ask.path
        if single:
            entry = FileEntry("", files[0].digest, files[0].size, files[0].mode)
            if not ask.overwrite and await asyncio.to_thread(os.path.exists, destination) and \
                    not await asyncio.to_thread(self._holds, destination, entry):
                raise _other_content(destination)
            await self.materialize(entry, destination, owner)
            return
        prefix = "" if ask.path == "." else ask.path + "/"
        entries = [FileEntry(f.path[len(prefix):], f.digest, f.size, f.mode) for f in files]
        if not ask.overwrite and await asyncio.to_thread(os.path.exists, destination):
            same = all([await asyncio.to_thread(self._holds, os.path.join(destination, e.path), e) for e in entries])
            if not same:
                raise _other_content(destination)
        await self.materialize_tree(entries, (), destination, owner)

    async def drive_delete(self, drive_id: str, component: str, path: str) -> None:
        """Delete ``component``'s ``path`` (a file or a folder) from the Drive."""
        request = storage_pb2.DeleteDriveFilesRequest(drive_id=drive_id, component=component, path=path)
        await self._call(f"deleting {path!r} from Drive {drive_id!r}",
                         lambda stub, md: stub.DeleteDriveFiles(request, metadata=md, timeout=UNARY_TIMEOUT_S))

    # -- requests from work processes -----------------------------------------------------------------------------

    async def handle(self, work_name: str, request: StorageRequest) -> StorageReply:
        """Serve one request of ``work_name``'s process; the reply (a failure in it, never an exception)."""
        ask = request.ask
        try:
            return await self._serve(work_name, request.request_id, ask)
        except TransferFailure as exc:
            return StorageReply(request.request_id, exc.kind, str(exc))
        except ValueError as exc:  # an unsafe path or a bad field
            return StorageReply(request.request_id, FailureKind.INVALID, str(exc))
        except Exception as exc:
            log.exception("storage_request_failed", work_name=work_name, request=type(ask).__name__)
            return StorageReply(request.request_id, FailureKind.TRANSFER, f"the agent failed: {exc!r}")

    async def _serve(self, work_name: str, request_id: int, ask: StorageAsk) -> StorageReply:
        if isinstance(ask, PersistAsk):
            outcomes = [await self.persist(work_name, item.kind, item.name, item.local_path) for item in ask.items]
            return StorageReply(request_id, persisted=tuple(outcomes))
        if isinstance(ask, FetchAsk):
            await self.fetch(ask.origin, ask.kind, ask.name, ask.destination, ask.consumer or work_name)
        elif isinstance(ask, ResolveAsk):
            return StorageReply(request_id, exists=await self._artifact_exists(ask, work_name))
        elif isinstance(ask, DrivePutAsk):
            await self.drive_put(ask.drive_id, ask.component, ask.local_path, ask.path, ask.allow_duplicates)
        elif isinstance(ask, DriveListAsk):
            files = await self.drive_files(ask.drive_id, ask.component, ask.path)
            return StorageReply(request_id, names=tuple(drive_children([f.path for f in files], ask.path)))
        elif isinstance(ask, DriveGetAsk):
            await self.drive_get(ask)
        elif isinstance(ask, DriveDeleteAsk):
            await self.drive_delete(ask.drive_id, ask.component, ask.path)
        else:
            raise TransferFailure(f"unknown storage request {type(ask).__name__}", kind=FailureKind.INVALID)
        return StorageReply(request_id)

    async def _artifact_exists(self, ask: ResolveAsk, consumer: str) -> bool:
        try:
            await self.resolve(ask.origin, ask.kind, ask.name, consumer)
        except TransferFailure as exc:
            if exc.kind == FailureKind.NOT_FOUND:
                return False
            raise
        return True


def _other_content(destination: str) -> TransferFailure:
    return TransferFailure(f"{destination} exists with other content; pass overwrite=True to replace it",
                           kind=FailureKind.EXISTS)


def _remove_folder(path: str) -> None:
    """Remove ``path`` if it is a folder (not a link to one), so that a file can take its place."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)


def _resolve_in(cwd: str, name: str) -> tuple[str, str]:
    """The real paths of the work's folder ``cwd`` and of ``name`` inside it (links followed)."""
    root = os.path.realpath(cwd)
    return root, os.path.realpath(os.path.join(root, name))
