"""StorageCoordinator: resumable verified uploads, records, on-demand requests to running origins, Drives."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from lightning_ctl.controlplane.errors import StorageFault
from lightning_ctl.controlplane.storage import open_store
from lightning_ctl.controlplane.storage.coordinator import StorageCoordinator
from lightning_ctl.sdk._storage_types import Artifact, FileEntry, UploadRequested

DATA = b"0123456789" * 100_000
DIGEST = hashlib.sha256(DATA).hexdigest()


async def chunks(data: bytes, size: int = 64 << 10) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


class FakeRegistry:
    """What the coordinator reads of the agent registry: placements, connected agents, and routing."""

    def __init__(self) -> None:
        self.placements: dict = {}
        self.agents: dict = {}
        self.routed: list = []
        self.has_routed = asyncio.Event()

    def place(self, work: str, agent_id: str = "agent-1", attempt: int = 1) -> None:
        self.placements[work] = SimpleNamespace(attempt=attempt, allocation=SimpleNamespace(agent_id=agent_id))
        self.agents[agent_id] = object()

    def route(self, commands: list) -> None:
        self.routed.extend(commands)
        self.has_routed.set()


@pytest.fixture
def coordinator(tmp_path) -> StorageCoordinator:
    return StorageCoordinator(open_store(tmp_path / "app"), FakeRegistry())


def run(coroutine):
    return asyncio.run(coroutine)


def test_an_upload_resumes_from_what_was_kept(coordinator):
    """A stream that ends early keeps its bytes; the next upload from that offset completes the blob."""
    async def scenario() -> None:
        assert await coordinator.receive_blob(DIGEST, len(DATA), 0, "w's x", chunks(DATA[:300_000])) == (False,
                                                                                                           300_000)
        assert await coordinator.stat_blob(DIGEST) == (False, 300_000)
        with pytest.raises(StorageFault) as wrong:
            await coordinator.receive_blob(DIGEST, len(DATA), 0, "w's x", chunks(DATA))
        assert wrong.value.code == StorageFault.RESUME_ELSEWHERE
        assert await coordinator.receive_blob(DIGEST, len(DATA), 300_000, "w's x",
                                              chunks(DATA[300_000:])) == (True, 0)
        assert await coordinator.stat_blob(DIGEST) == (True, 0)
        received = b"".join([data async for data in coordinator.send_blob(DIGEST, 10)])
        assert received == DATA[10:]

    run(scenario())


def test_bytes_that_do_not_match_their_digest_are_refused_and_forgotten(coordinator):
    """A corrupt upload fails (CORRUPT, naming whose file) and leaves nothing to resume from."""
    async def scenario() -> None:
        with pytest.raises(StorageFault) as corrupt:
            await coordinator.receive_blob(DIGEST, len(DATA), 0, "root.w's 'x'", chunks(b"z" * len(DATA)))
        assert corrupt.value.code == StorageFault.CORRUPT and "root.w's 'x'" in str(corrupt.value)
        assert await coordinator.stat_blob(DIGEST) == (False, 0)

    run(scenario())


def test_an_artifact_whose_blobs_were_not_uploaded_is_refused(coordinator):
    """A record naming content the store lacks is refused (NOT_FOUND)."""
    artifact = Artifact("root.w", "path", "x", False, (FileEntry("", DIGEST, len(DATA)),))
    with pytest.raises(StorageFault) as missing:
        run(coordinator.commit_artifact(artifact))
    assert missing.value.code == StorageFault.NOT_FOUND


def test_a_missing_artifact_says_why(coordinator):
    """Not persisted by a work that is not running: the cause says so; a recorded problem is reported as is."""
    async def scenario() -> None:
        with pytest.raises(StorageFault, match="never persisted it, and it has no running process"):
            await coordinator.resolve_artifact("root.w", "path", "x")
        await coordinator.commit_artifact(Artifact("root.w", "path", "y", False, ()), problem="disk full")
        with pytest.raises(StorageFault, match="could not persist it: disk full"):
            await coordinator.resolve_artifact("root.w", "path", "y")

    run(scenario())


def test_a_running_origin_is_asked_once_for_many_consumers(coordinator):
    """Two consumers asking for an unpersisted Path of a running work send one request to its agent; both get
    what it then persists."""
    registry = coordinator._registry
    registry.place("root.w")

    async def scenario() -> None:
        first = asyncio.ensure_future(coordinator.resolve_artifact("root.w", "path", "x", "root.c1"))
        second = asyncio.ensure_future(coordinator.resolve_artifact("root.w", "path", "x", "root.c2"))
        await asyncio.wait_for(registry.has_routed.wait(), 10)
        await asyncio.sleep(0.05)  # the second caller's turn: it must join the first one's request, not route one
        [request] = registry.routed
        assert isinstance(request, UploadRequested) and request.name == "x"
        await coordinator.receive_blob(DIGEST, len(DATA), 0, "x", chunks(DATA))
        artifact = Artifact("root.w", "path", "x", False, (FileEntry("", DIGEST, len(DATA)),))
        await coordinator.commit_artifact(artifact, request_id=request.request_id)
        assert (await first).files == (await second).files == artifact.files

    run(scenario())


def test_drive_rules(coordinator):
    """Duplicates across components are refused unless allowed; get waits for a put up to its timeout; several
    components having a path is ambiguous; only the owner deletes."""
    entry = FileEntry("a.txt", DIGEST, len(DATA))

    async def scenario() -> None:
        await coordinator.receive_blob(DIGEST, len(DATA), 0, "x", chunks(DATA))
        waiting = asyncio.ensure_future(coordinator.resolve_drive("d", "", "a.txt", timeout_s=5))
        await asyncio.sleep(0.05)
        await coordinator.put_drive_files("d", "root.a", "a.txt", [entry], allow_duplicates=False)
        assert [f.component for f in await waiting] == ["root.a"]
        with pytest.raises(StorageFault) as duplicate:
            await coordinator.put_drive_files("d", "root.b", "a.txt", [entry], allow_duplicates=False)
        assert duplicate.value.code == StorageFault.EXISTS and "root.a" in str(duplicate.value)
        await coordinator.put_drive_files("d", "root.b", "a.txt", [entry], allow_duplicates=True)
        with pytest.raises(StorageFault, match="several components"):
            await coordinator.resolve_drive("d", "", "a.txt", timeout_s=0)
        with pytest.raises(StorageFault) as absent:
            await coordinator.resolve_drive("d", "", "nope", timeout_s=0.1)
        assert absent.value.code == StorageFault.NOT_FOUND and "waited" in str(absent.value)
        with pytest.raises(StorageFault):
            await coordinator.delete_drive_files("d", "root.c", "a.txt")
        await coordinator.delete_drive_files("d", "root.b", "a.txt")
        assert [f.component for f in await coordinator.list_drive("d")] == ["root.a"]

    run(scenario())


def test_a_replaced_attempt_cannot_overwrite_what_the_current_one_persists(coordinator):
    """A commit from an agent the work is no longer placed on is refused (the work moved while that agent was away)."""
    coordinator._registry.place("root.w", agent_id="agent-new")
    with pytest.raises(StorageFault, match="another agent"):
        run(coordinator.commit_artifact(Artifact("root.w", "path", "x", False, ()), agent_id="agent-old"))
