"""The app's store: ``storage.proto`` messages to and from the plain types of ``sdk._storage_types``.

Artifacts, Drive files, a work process's requests to its agent and their replies, the control plane's upload
request.
"""

from __future__ import annotations

from lightning_ctl.protos.codec._values import CodecError
from lightning_ctl.protos.lightning.v1 import storage_pb2
from lightning_ctl.sdk._storage import PATH_KIND, PAYLOAD_KIND
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
    PersistItem,
    PersistOutcome,
    ResolveAsk,
    StorageReply,
    StorageRequest,
    UploadRequested,
)

_KINDS = {PATH_KIND: storage_pb2.ARTIFACT_KIND_PATH, PAYLOAD_KIND: storage_pb2.ARTIFACT_KIND_PAYLOAD}
_KIND_NAMES: dict[int, str] = {value: name for name, value in _KINDS.items()}
_Failure = storage_pb2.StorageFailure
_FAILURES = {
    FailureKind.NOT_FOUND: _Failure.KIND_NOT_FOUND,
    FailureKind.EXISTS: _Failure.KIND_EXISTS,
    FailureKind.INVALID: _Failure.KIND_INVALID,
    FailureKind.TRANSFER: _Failure.KIND_TRANSFER,
}
_FAILURE_KINDS = {value: kind for kind, value in _FAILURES.items()}


def kind_to_pb(kind: str) -> storage_pb2.ArtifactKind:
    """``path``/``payload`` as the protobuf enum."""
    try:
        return _KINDS[kind]
    except KeyError:
        raise CodecError(f"artifact kind: unknown {kind!r}") from None


def kind_from_pb(kind: int) -> str:
    """The protobuf enum as ``path``/``payload``."""
    try:
        return _KIND_NAMES[kind]
    except KeyError:
        raise CodecError(f"artifact kind: unknown value {kind}") from None


# -- what the store holds -----------------------------------------------------------------------------------------


def file_to_pb(entry: FileEntry) -> storage_pb2.FileEntry:
    """A FileEntry as protobuf."""
    return storage_pb2.FileEntry(path=entry.path, digest=entry.digest, size=entry.size, mode=entry.mode)


def file_from_pb(pb: storage_pb2.FileEntry) -> FileEntry:
    """A FileEntry from protobuf."""
    if pb.size < 0:
        raise CodecError(f"file {pb.path!r}: negative size")
    return FileEntry(pb.path, pb.digest, pb.size, pb.mode or 0o644)


def artifact_to_pb(artifact: Artifact) -> storage_pb2.Artifact:
    """An Artifact as protobuf."""
    return storage_pb2.Artifact(
        work_name=artifact.work_name,
        kind=kind_to_pb(artifact.kind),
        name=artifact.name,
        is_dir=artifact.is_dir,
        files=[file_to_pb(f) for f in artifact.files],
        persisted_at=artifact.persisted_at,
        dirs=list(artifact.dirs),
    )


def artifact_from_pb(pb: storage_pb2.Artifact) -> Artifact:
    """An Artifact from protobuf; raises CodecError naming the field at fault."""
    if not pb.work_name:
        raise CodecError("artifact.work_name: missing")
    if not pb.name:
        raise CodecError("artifact.name: missing")
    return Artifact(
        work_name=pb.work_name,
        kind=kind_from_pb(pb.kind),
        name=pb.name,
        is_dir=pb.is_dir,
        files=tuple(file_from_pb(f) for f in pb.files),
        persisted_at=pb.persisted_at,
        dirs=tuple(pb.dirs),
    )


def drive_file_to_pb(drive_file: DriveFile) -> storage_pb2.DriveFile:
    """A DriveFile as protobuf."""
    return storage_pb2.DriveFile(
        drive_id=drive_file.drive_id,
        component=drive_file.component,
        file=storage_pb2.FileEntry(path=drive_file.path, digest=drive_file.digest, size=drive_file.size,
                                   mode=drive_file.mode),
        put_at=drive_file.put_at,
    )


def drive_file_from_pb(pb: storage_pb2.DriveFile) -> DriveFile:
    """A DriveFile from protobuf."""
    entry = file_from_pb(pb.file)
    return DriveFile(pb.drive_id, pb.component, entry.path, entry.digest, entry.size, entry.mode, pb.put_at)


def outcome_to_pb(outcome: PersistOutcome) -> storage_pb2.PersistOutcome:
    """A PersistOutcome as protobuf."""
    return storage_pb2.PersistOutcome(kind=kind_to_pb(outcome.kind), name=outcome.name, persisted=outcome.persisted,
                                      problem=outcome.problem)


def outcome_from_pb(pb: storage_pb2.PersistOutcome) -> PersistOutcome:
    """A PersistOutcome from protobuf."""
    return PersistOutcome(kind_from_pb(pb.kind), pb.name, pb.persisted, pb.problem)


# -- the control plane asks an agent for a running work's Path --------------------------------------------------------


def upload_requested_to_pb(command: UploadRequested) -> storage_pb2.UploadArtifact:
    """An UploadRequested as protobuf."""
    return storage_pb2.UploadArtifact(work_name=command.work_name, attempt=command.attempt, name=command.name,
                                      request_id=command.request_id)


def upload_requested_from_pb(pb: storage_pb2.UploadArtifact) -> UploadRequested:
    """An UploadRequested from protobuf."""
    return UploadRequested(pb.work_name, pb.attempt, pb.name, pb.request_id)


# -- a work process's requests to its agent, and the replies --------------------------------------------------------


def storage_request_to_pb(request: StorageRequest) -> storage_pb2.StorageRequest:
    """A StorageRequest as protobuf."""
    pb = storage_pb2.StorageRequest(request_id=request.request_id)
    ask = request.ask
    if isinstance(ask, PersistAsk):
        pb.persist.work_name = ask.work_name
        pb.persist.items.extend(storage_pb2.PersistItem(kind=kind_to_pb(i.kind), name=i.name, local_path=i.local_path)
                                for i in ask.items)
    elif isinstance(ask, FetchAsk):
        pb.fetch.CopyFrom(storage_pb2.FetchArtifact(origin=ask.origin, kind=kind_to_pb(ask.kind), name=ask.name,
                                                    destination=ask.destination, consumer=ask.consumer))
    elif isinstance(ask, ResolveAsk):
        pb.resolve.CopyFrom(storage_pb2.ResolveArtifactRequest(work_name=ask.origin, kind=kind_to_pb(ask.kind),
                                                               name=ask.name, consumer=ask.consumer))
    elif isinstance(ask, DrivePutAsk):
        pb.drive_put.CopyFrom(storage_pb2.DrivePut(drive_id=ask.drive_id, component=ask.component,
                                                   local_path=ask.local_path, path=ask.path,
                                                   allow_duplicates=ask.allow_duplicates))
    elif isinstance(ask, DriveListAsk):
        pb.drive_list.CopyFrom(storage_pb2.ListDriveRequest(drive_id=ask.drive_id, component=ask.component,
                                                            path=ask.path))
    elif isinstance(ask, DriveGetAsk):
        drive = storage_pb2.ResolveDriveRequest(drive_id=ask.drive_id, component=ask.component, path=ask.path,
                                                timeout_s=ask.timeout_s)
        pb.drive_get.CopyFrom(storage_pb2.DriveGet(drive=drive, destination=ask.destination, overwrite=ask.overwrite))
    else:
        pb.drive_delete.CopyFrom(storage_pb2.DeleteDriveFilesRequest(drive_id=ask.drive_id, component=ask.component,
                                                                     path=ask.path))
    return pb


def storage_request_from_pb(pb: storage_pb2.StorageRequest) -> StorageRequest:
    """A StorageRequest from protobuf; raises CodecError naming the field at fault."""
    kind = pb.WhichOneof("kind")
    if kind == "persist":
        items = tuple(PersistItem(kind_from_pb(i.kind), i.name, i.local_path) for i in pb.persist.items)
        return StorageRequest(pb.request_id, PersistAsk(pb.persist.work_name, items))
    if kind == "fetch":
        f = pb.fetch
        return StorageRequest(pb.request_id, FetchAsk(f.origin, kind_from_pb(f.kind), f.name, f.destination,
                                                      f.consumer))
    if kind == "resolve":
        r = pb.resolve
        return StorageRequest(pb.request_id, ResolveAsk(r.work_name, kind_from_pb(r.kind), r.name, r.consumer))
    if kind == "drive_put":
        p = pb.drive_put
        return StorageRequest(pb.request_id, DrivePutAsk(p.drive_id, p.component, p.local_path, p.path,
                                                         p.allow_duplicates))
    if kind == "drive_list":
        return StorageRequest(pb.request_id, DriveListAsk(pb.drive_list.drive_id, pb.drive_list.component,
                                                          pb.drive_list.path))
    if kind == "drive_get":
        g = pb.drive_get
        return StorageRequest(pb.request_id, DriveGetAsk(g.drive.drive_id, g.drive.component, g.drive.path,
                                                         g.destination, g.drive.timeout_s, g.overwrite))
    if kind == "drive_delete":
        d = pb.drive_delete
        return StorageRequest(pb.request_id, DriveDeleteAsk(d.drive_id, d.component, d.path))
    raise CodecError(f"storage request {pb.request_id}: missing kind")


def storage_reply_to_pb(reply: StorageReply) -> storage_pb2.StorageReply:
    """A StorageReply as protobuf."""
    pb = storage_pb2.StorageReply(request_id=reply.request_id, persisted=[outcome_to_pb(o) for o in reply.persisted],
                                  exists=reply.exists, names=list(reply.names))
    if reply.failure is not None:
        pb.failure.CopyFrom(storage_pb2.StorageFailure(kind=_FAILURES[reply.failure], message=reply.message))
    return pb


def storage_reply_from_pb(pb: storage_pb2.StorageReply) -> StorageReply:
    """A StorageReply from protobuf (an unknown failure kind counts as a failed transfer)."""
    failure, message = None, ""
    if pb.HasField("failure"):
        failure, message = _FAILURE_KINDS.get(pb.failure.kind, FailureKind.TRANSFER), pb.failure.message
    return StorageReply(pb.request_id, failure, message, tuple(outcome_from_pb(o) for o in pb.persisted), pb.exists,
                        tuple(pb.names))
