"""The storage part of the codec: protobuf messages of ``storage.proto`` to and from the plain types of
``sdk._storage``. Every ``x_to_pb`` has an ``x_from_pb`` and a round-trip test."""

from __future__ import annotations

from lightning_ctl.protos.lightning.v1 import storage_pb2
from lightning_ctl.sdk._storage import PATH_KIND, PAYLOAD_KIND
from lightning_ctl.sdk._storage_types import Artifact, DriveFile, FileEntry, PersistOutcome

_KINDS = {PATH_KIND: storage_pb2.ARTIFACT_KIND_PATH, PAYLOAD_KIND: storage_pb2.ARTIFACT_KIND_PAYLOAD}
_KIND_NAMES = {value: name for name, value in _KINDS.items()}


class StorageCodecError(ValueError):
    """A storage message could not be decoded; the message names the field at fault."""


def kind_to_pb(kind: str) -> int:
    """``path``/``payload`` as the protobuf enum."""
    try:
        return _KINDS[kind]
    except KeyError:
        raise StorageCodecError(f"artifact kind: unknown {kind!r}") from None


def kind_from_pb(kind: int) -> str:
    """The protobuf enum as ``path``/``payload``."""
    try:
        return _KIND_NAMES[kind]
    except KeyError:
        raise StorageCodecError(f"artifact kind: unknown value {kind}") from None


def file_to_pb(entry: FileEntry) -> storage_pb2.FileEntry:
    """A FileEntry as protobuf."""
    return storage_pb2.FileEntry(path=entry.path, digest=entry.digest, size=entry.size, mode=entry.mode)


def file_from_pb(pb: storage_pb2.FileEntry) -> FileEntry:
    """A FileEntry from protobuf."""
    if pb.size < 0:
        raise StorageCodecError(f"file {pb.path!r}: negative size")
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
    """An Artifact from protobuf; raises StorageCodecError naming the field at fault."""
    if not pb.work_name:
        raise StorageCodecError("artifact.work_name: missing")
    if not pb.name:
        raise StorageCodecError("artifact.name: missing")
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
