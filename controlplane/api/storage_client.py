"""StorageClient: the running app's store through its control plane, for ``lightning-ctl ls/cp``.

An :class:`AppClient` (same connection, token and error table) that also speaks the StorageService; it reads what
``controlplane.storage.reader.StoreReader`` describes, so ``ls`` and ``cp`` work the same on a running app and on an
ended app's store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from lightning_ctl.controlplane.api.client import AppClient
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import storage_pb2, storage_pb2_grpc
from lightning_ctl.sdk._storage_types import Artifact, DriveFile


class StorageClient(AppClient):
    """Reads the running app's store (use inside ``async with``)."""

    async def __aenter__(self) -> StorageClient:
        await super().__aenter__()
        self._storage = storage_pb2_grpc.StorageServiceStub(self._channel)
        self.description = f"the running app at {self.target.address}"
        return self

    async def drive_ids(self) -> list[str]:
        """The Drives holding files."""
        reply = await self._unary(self._storage.ListDrive, storage_pb2.ListDriveRequest())
        return list(reply.drive_ids)

    async def artifact_works(self) -> list[str]:
        """The works that persisted something."""
        return sorted({artifact.work_name for artifact in await self.artifacts("")})

    async def artifacts(self, work_name: str) -> list[Artifact]:
        """The artifacts of ``work_name`` (every work's with "")."""
        reply = await self._unary(self._storage.ListArtifacts, storage_pb2.ListArtifactsRequest(work_name=work_name))
        return [codec.artifact_from_pb(a) for a in reply.artifacts]

    async def drive_files(self, drive_id: str, component: str, path: str) -> list[DriveFile]:
        """The Drive's files at or under ``path``."""
        request = storage_pb2.ListDriveRequest(drive_id=drive_id, component=component, path=path)
        reply = await self._unary(self._storage.ListDrive, request)
        return [codec.drive_file_from_pb(f) for f in reply.files]

    async def artifact(self, work_name: str, kind: str, name: str) -> Artifact:
        """One artifact: persisted, or handed over now by its running origin."""
        request = storage_pb2.ResolveArtifactRequest(work_name=work_name, kind=codec.kind_to_pb(kind),
                                                     name=name, consumer="lightning-ctl cp")
        return codec.artifact_from_pb(await self._unary(self._storage.ResolveArtifact, request))

    async def blob(self, digest: str, offset: int) -> AsyncIterator[bytes]:
        """A blob's bytes from ``offset``."""
        request = storage_pb2.DownloadBlobRequest(digest=digest, offset=offset)
        async for chunk in self._stream(self._storage.DownloadBlob, request):
            yield chunk.data
