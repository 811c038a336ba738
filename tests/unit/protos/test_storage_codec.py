"""Round trips of the storage codec, and its refusals naming the field at fault."""

from __future__ import annotations

import pytest

from lightning_ctl.protos import codec, storage_codec
from lightning_ctl.protos.lightning.v1 import storage_pb2
from lightning_ctl.sdk._storage_types import Artifact, DriveFile, FileEntry, PersistOutcome, UploadRequested

DIGEST = "ab" * 32


def test_artifact_round_trip():
    """An Artifact (a folder with files and an empty folder) survives the wire."""
    artifact = Artifact("root.w", "path", "out", True, (FileEntry("a/b.txt", DIGEST, 12, 0o600),), 3.5, ("e",))
    assert storage_codec.artifact_from_pb(storage_codec.artifact_to_pb(artifact)) == artifact


def test_drive_file_and_outcome_round_trips():
    """DriveFile and PersistOutcome survive the wire."""
    drive_file = DriveFile("d", "root.a", "x/y", DIGEST, 7, 0o644, 2.0)
    assert storage_codec.drive_file_from_pb(storage_codec.drive_file_to_pb(drive_file)) == drive_file
    outcome = PersistOutcome("payload", "result", False, "no space")
    assert storage_codec.outcome_from_pb(storage_codec.outcome_to_pb(outcome)) == outcome


def test_upload_request_travels_as_an_agent_command():
    """The control plane's on-demand request to an agent is a Command on its stream."""
    command = UploadRequested("root.w", 2, "out/x.bin", "r1")
    assert codec.command_from_pb(codec.command_to_pb(command)) == command


@pytest.mark.parametrize(("artifact", "field"), [
    (storage_pb2.Artifact(name="x", kind=storage_pb2.ARTIFACT_KIND_PATH), "work_name"),
    (storage_pb2.Artifact(work_name="w", kind=storage_pb2.ARTIFACT_KIND_PATH), "name"),
    (storage_pb2.Artifact(work_name="w", name="x"), "kind"),
])
def test_bad_artifacts_name_the_field(artifact, field):
    """A missing work name, name or kind is refused naming the field."""
    with pytest.raises(storage_codec.StorageCodecError, match=field):
        storage_codec.artifact_from_pb(artifact)
