"""StorageServicer: the app's store over gRPC, for agents (their works' files) and ``lightning-ctl ls/cp``.

Who may call what is the interceptor's (agents everything, the operator's token only the reads); an agent is known
by its credential (and the client certificate it is bound to), never by what its requests say.

The one table from storage faults to status codes (agents and the CLI map them back):

    NOT_FOUND ─► NOT_FOUND      EXISTS ─► ALREADY_EXISTS      INVALID, a bad field ─► INVALID_ARGUMENT
    RESUME_ELSEWHERE ─► FAILED_PRECONDITION      NO_SPACE ─► RESOURCE_EXHAUSTED      CORRUPT ─► DATA_LOSS
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc

from lightning_ctl.controlplane.api.interceptors import current_principal, peer_certificate
from lightning_ctl.controlplane.credential_store import CredentialStore, Role
from lightning_ctl.controlplane.errors import CredentialError, CredentialRefusedError, StorageFault
from lightning_ctl.controlplane.storage.coordinator import StorageCoordinator
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import storage_pb2, storage_pb2_grpc
from lightning_ctl.sdk._storage_types import Artifact

T = TypeVar("T")

_STATUS = {
    StorageFault.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    StorageFault.EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    StorageFault.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    StorageFault.RESUME_ELSEWHERE: grpc.StatusCode.FAILED_PRECONDITION,
    StorageFault.NO_SPACE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    StorageFault.CORRUPT: grpc.StatusCode.DATA_LOSS,
}


def _status_of(exc: StorageFault | ValueError) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, StorageFault):
        return _STATUS[exc.code], str(exc)
    return grpc.StatusCode.INVALID_ARGUMENT, str(exc)  # a malformed digest, path or enum (codec and store checks)


def _unary(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    @functools.wraps(method)
    async def handler(self: StorageServicer, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            self._check_caller(context)
            return await method(self, request, context)
        except CredentialError as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
            raise  # unreachable: abort raises
        except (StorageFault, ValueError) as exc:
            await context.abort(*_status_of(exc))
            raise  # unreachable: abort raises

    return handler


class StorageServicer(storage_pb2_grpc.StorageServiceServicer):
    """Converts at the edge; the coordinator does the work."""

    def __init__(self, coordinator: StorageCoordinator, credentials: CredentialStore) -> None:
        self._coordinator = coordinator
        self._credentials = credentials

    def _check_caller(self, context: grpc.aio.ServicerContext) -> None:
        """That an agent credential comes with the client certificate it is bound to.

        The interceptor already checked that the credential opens the method.

        Raises:
            CredentialError: it does not, or no credential was checked.
        """
        principal = current_principal.get()
        if principal is None:
            raise CredentialRefusedError("no credential")
        if principal.role is Role.AGENT:
            self._credentials.check_agent(principal, principal.subject, peer_certificate(context))

    @_unary
    async def StatBlob(self, request: storage_pb2.StatBlobRequest, context: Any) -> storage_pb2.BlobStatus:
        """Whether the store holds the blob, and how much of a partial upload it kept."""
        stored, partial = await self._coordinator.stat_blob(request.digest)
        return storage_pb2.BlobStatus(stored=stored, partial_bytes=partial)

    @_unary
    async def UploadBlob(self, request_iterator: AsyncIterator[storage_pb2.BlobUpload], context: Any
                         ) -> storage_pb2.BlobStatus:
        """Receive a blob (a header, then chunks), resuming at the header's offset."""
        header = await anext(aiter(request_iterator), None)
        if header is None:
            raise StorageFault("upload: no header", code=StorageFault.INVALID)

        async def chunks() -> AsyncIterator[bytes]:
            if header.data:
                yield header.data
            async for message in request_iterator:
                yield message.data

        owner = f"{header.work_name}'s {header.name!r}" if header.work_name else f"blob {header.digest[:12]}"
        stored, partial = await self._coordinator.receive_blob(header.digest, header.size, header.offset, owner,
                                                                 chunks())
        return storage_pb2.BlobStatus(stored=stored, partial_bytes=partial)

    async def DownloadBlob(self, request: storage_pb2.DownloadBlobRequest, context: Any
                           ) -> AsyncIterator[storage_pb2.BlobChunk]:
        """Send a blob from ``offset`` on, to an agent whose credential matches its certificate."""
        try:
            self._check_caller(context)
        except CredentialError as exc:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        try:
            async for data in self._coordinator.send_blob(request.digest, request.offset):
                yield storage_pb2.BlobChunk(data=data)
        except (StorageFault, ValueError) as exc:
            await context.abort(*_status_of(exc))

    @_unary
    async def CommitArtifact(self, request: storage_pb2.CommitArtifactRequest, context: Any
                             ) -> storage_pb2.CommitArtifactReply:
        """Record a work's persisted Path or Payload (only from the agent it is placed on)."""
        artifact = codec.artifact_from_pb(request.artifact)
        await self._coordinator.commit_artifact(artifact, request.problem, request.request_id, _calling_agent())
        return storage_pb2.CommitArtifactReply()

    @_unary
    async def ResolveArtifact(self, request: storage_pb2.ResolveArtifactRequest, context: Any
                              ) -> storage_pb2.Artifact:
        """A work's artifact: from the store, else asked of its running origin's agent now."""
        artifact: Artifact = await self._coordinator.resolve_artifact(
            request.work_name, codec.kind_from_pb(request.kind), request.name, request.consumer)
        return codec.artifact_to_pb(artifact)

    @_unary
    async def ListArtifacts(self, request: storage_pb2.ListArtifactsRequest, context: Any
                            ) -> storage_pb2.ArtifactList:
        """What ``work_name`` persisted."""
        artifacts = await self._coordinator.list_artifacts(request.work_name)
        return storage_pb2.ArtifactList(artifacts=[codec.artifact_to_pb(a) for a in artifacts])

    @_unary
    async def PutDriveFiles(self, request: storage_pb2.PutDriveFilesRequest, context: Any
                            ) -> storage_pb2.PutDriveFilesReply:
        """Add files to a Drive under a component's name."""
        files = [codec.file_from_pb(f) for f in request.files]
        await self._coordinator.put_drive_files(request.drive_id, request.component, request.path or ".", files,
                                                request.allow_duplicates)
        return storage_pb2.PutDriveFilesReply()

    @_unary
    async def ListDrive(self, request: storage_pb2.ListDriveRequest, context: Any) -> storage_pb2.DriveFiles:
        """A Drive's files under ``path`` (the Drives themselves without ``drive_id``)."""
        if not request.drive_id:
            return storage_pb2.DriveFiles(drive_ids=await self._coordinator.drive_ids())
        files = await self._coordinator.list_drive(request.drive_id, request.component, request.path or ".")
        return storage_pb2.DriveFiles(files=[codec.drive_file_to_pb(f) for f in files])

    @_unary
    async def ResolveDrive(self, request: storage_pb2.ResolveDriveRequest, context: Any
                           ) -> storage_pb2.DriveFiles:
        """A Drive's files under ``path``, waiting up to ``timeout_s`` for them to appear."""
        files = await self._coordinator.resolve_drive(request.drive_id, request.component, request.path or ".",
                                                      request.timeout_s)
        return storage_pb2.DriveFiles(files=[codec.drive_file_to_pb(f) for f in files])

    @_unary
    async def DeleteDriveFiles(self, request: storage_pb2.DeleteDriveFilesRequest, context: Any
                               ) -> storage_pb2.DeleteDriveFilesReply:
        """Delete a component's files under ``path`` from a Drive."""
        await self._coordinator.delete_drive_files(request.drive_id, request.component, request.path or ".")
        return storage_pb2.DeleteDriveFilesReply()


def _calling_agent() -> str:
    """The id of the agent whose credential authenticated this call ("" for another credential)."""
    principal = current_principal.get()
    return principal.subject if principal is not None and principal.role is Role.AGENT else ""
