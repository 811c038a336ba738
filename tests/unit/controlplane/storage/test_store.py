"""ArtifactStore on both backends (a folder, and fsspec with a file:// URL): blobs, artifacts, Drives, cleanup."""

from __future__ import annotations

import hashlib

import pytest

from lightning_ctl.controlplane.storage import open_store, record_store, recorded_store, start_afresh
from lightning_ctl.controlplane.storage.store import ArtifactStore
from lightning_ctl.sdk._storage_types import Artifact, FileEntry

DATA = b"content of a file" * 1000
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.fixture(params=["folder", "fsspec"])
def store(request, tmp_path) -> ArtifactStore:
    if request.param == "fsspec":
        pytest.importorskip("fsspec")
        return open_store(tmp_path / "app", f"file://{tmp_path / 'bucket'}")
    return open_store(tmp_path / "app")


def put_blob(store: ArtifactStore, data: bytes = DATA) -> str:
    digest = hashlib.sha256(data).hexdigest()
    upload = store.begin_blob(digest, len(data))
    upload.write(data)
    store.commit_blob(upload)
    return digest


def test_blobs_are_stored_once_verified_and_read_from_an_offset(store):
    """An upload is kept aside (partial bytes visible for a resume) until whole, then readable from any offset."""
    upload = store.begin_blob(DIGEST, len(DATA))
    upload.write(DATA[:100])
    upload.close()
    assert store.partial_bytes(DIGEST) == 100 and not store.has_blob(DIGEST)
    upload = store.begin_blob(DIGEST, len(DATA))
    upload.write(DATA[100:])
    store.commit_blob(upload)
    assert store.has_blob(DIGEST) and store.partial_bytes(DIGEST) == 0
    with store.open_blob(DIGEST, 5) as reader:
        assert reader.read() == DATA[5:]


def test_artifacts_are_recorded_per_work_kind_and_name(store):
    """What a work persisted comes back as it was recorded; names with slashes or dots stay inside the store."""
    put_blob(store)
    artifact = Artifact("root.w", "path", "../../etc/passwd", False, (FileEntry("", DIGEST, len(DATA)),), 1.0)
    store.put_artifact(artifact)
    assert store.get_artifact("root.w", "path", "../../etc/passwd") == artifact
    assert store.get_artifact("root.w", "payload", "../../etc/passwd") is None
    assert store.list_artifacts("root.w") == [artifact] and store.artifact_works() == ["root.w"]


def test_drive_files_replace_what_a_put_covers_and_delete_by_prefix(store):
    """Putting a folder replaces that component's files under it; delete removes a file or a whole folder."""
    entry = FileEntry("f/a.txt", DIGEST, len(DATA))
    store.replace_drive_files("d", "root.a", "f", [entry, FileEntry("f/b.txt", DIGEST, len(DATA))])
    store.replace_drive_files("d", "root.a", "f", [FileEntry("f/c.txt", DIGEST, len(DATA))])
    store.replace_drive_files("d", "root.b", "x.txt", [FileEntry("x.txt", DIGEST, len(DATA))])
    assert [(f.component, f.path) for f in store.drive_files("d")] == [("root.a", "f/c.txt"), ("root.b", "x.txt")]
    assert store.delete_drive_files("d", "root.a", "f") == 1
    assert store.drive_components("d") == ["root.b"] and store.drive_ids() == ["d"]


def test_a_new_run_drops_artifacts_and_unused_blobs_but_keeps_drives(store):
    """start_afresh forgets the last run's artifacts and the blobs only they used; Drives and their blobs stay."""
    kept, dropped = put_blob(store, b"drive"), put_blob(store, b"artifact")
    store.replace_drive_files("d", "root.a", "k", [FileEntry("k", kept, 5)])
    store.put_artifact(Artifact("root.w", "path", "p", False, (FileEntry("", dropped, 8),)))
    assert start_afresh(store) == 1
    assert store.has_blob(kept) and not store.has_blob(dropped) and store.list_artifacts() == []


def test_the_store_location_is_recorded_without_secrets(tmp_path):
    """ls/cp after the end find the URL the app used; options that look like credentials are not written."""
    pytest.importorskip("fsspec")
    folder = tmp_path / "app"
    folder.mkdir()
    record_store(folder, f"file://{tmp_path / 'b'}", {"auto_mkdir": "1", "secret": "s3cr3t", "key": "k"})
    assert "s3cr3t" not in (folder / "storage.json").read_text()
    assert recorded_store(folder).description == f"file://{tmp_path / 'b'}"


def test_an_invalid_digest_is_refused(store):
    """Digests name files: anything but 64 lowercase hex characters is refused."""
    with pytest.raises(ValueError):
        store.has_blob("../../x")
