"""Round trips of the codec's storage part (protos/codec/_storage.py), and its refusals naming the field at fault."""

from __future__ import annotations

import pytest

from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import runner_pb2, storage_pb2
from lightning_ctl.sdk._agent_messages import RunnerHello
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

DIGEST = "ab" * 32


def test_artifact_round_trip():
    """An Artifact (a folder with files and an empty folder) survives the wire."""
    artifact = Artifact("root.w", "path", "out", True, (FileEntry("a/b.txt", DIGEST, 12, 0o600),), 3.5, ("e",))
    assert codec.artifact_from_pb(codec.artifact_to_pb(artifact)) == artifact


def test_drive_file_and_outcome_round_trips():
    """DriveFile and PersistOutcome survive the wire."""
    drive_file = DriveFile("d", "root.a", "x/y", DIGEST, 7, 0o644, 2.0)
    assert codec.drive_file_from_pb(codec.drive_file_to_pb(drive_file)) == drive_file
    outcome = PersistOutcome("payload", "result", False, "no space")
    assert codec.outcome_from_pb(codec.outcome_to_pb(outcome)) == outcome


def test_upload_request_travels_as_an_agent_command():
    """The control plane's on-demand request to an agent is a Command on its stream."""
    command = UploadRequested("root.w", 2, "out/x.bin", "r1")
    assert codec.command_from_pb(codec.command_to_pb(command)) == command


@pytest.mark.parametrize("ask", [
    PersistAsk("root.w", (PersistItem("path", "out", "/w/out"), PersistItem("payload", "p", "/tmp/p"))),
    FetchAsk("root.a", "path", "model.pt", "/w/model.pt", "root.b"),
    ResolveAsk("root.a", "payload", "metrics", "root.b"),
    DrivePutAsk("d", "root.a", "/w/x", "x", allow_duplicates=True),
    DriveListAsk("d", "", "."),
    DriveGetAsk("d", "root.a", "x/y", "/w/x/y", 2.5, overwrite=True),
    DriveDeleteAsk("d", "root.a", "x"),
], ids=lambda ask: type(ask).__name__)
def test_storage_requests_round_trip_in_a_work_process_message(ask):
    """Every request a work process makes of its agent reads back the same (beside its events and hello)."""
    request = StorageRequest(7, ask)
    hello = RunnerHello("root.w", 1, 42)
    frame = codec.runner_payload_from_bytes(codec.runner_payload([b"e"], hello, [request]))
    assert frame == (hello, [b"e"], [request])


@pytest.mark.parametrize("reply", [
    StorageReply(3, persisted=(PersistOutcome("path", "out", True),)),
    StorageReply(4, exists=True),
    StorageReply(5, names=("a", "b/")),
    *[StorageReply(6, kind, f"failed: {kind.value}") for kind in FailureKind],
], ids=lambda reply: reply.failure.value if reply.failure else f"reply-{reply.request_id}")
def test_storage_replies_round_trip_to_the_work_process(reply):
    """The agent's replies, failures of every kind included, read back the same in the work process."""
    assert codec.supervisor_payload_from_bytes(codec.supervisor_payload(reply)) == reply


def test_a_storage_request_without_kind_names_it():
    """A request with no kind is refused naming its id."""
    raw = runner_pb2.RunnerMessage(storage=[storage_pb2.StorageRequest(request_id=9)])
    with pytest.raises(codec.CodecError, match="storage request 9: missing kind"):
        codec.runner_payload_from_bytes(raw.SerializeToString())


@pytest.mark.parametrize(("artifact", "field"), [
    (storage_pb2.Artifact(name="x", kind=storage_pb2.ARTIFACT_KIND_PATH), "work_name"),
    (storage_pb2.Artifact(work_name="w", kind=storage_pb2.ARTIFACT_KIND_PATH), "name"),
    (storage_pb2.Artifact(work_name="w", name="x"), "kind"),
])
def test_bad_artifacts_name_the_field(artifact, field):
    """A missing work name, name or kind is refused naming the field."""
    with pytest.raises(codec.CodecError, match=field):
        codec.artifact_from_pb(artifact)
