"""AgentStorage against a real StorageService (gRPC on loopback, a store in a temporary folder): dedup, local
copies, resumed downloads, refusals, and the messages of a full disk."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from lightning_ctl.agent.transfer import TransferFailure
from lightning_ctl.agent.work_storage import AgentStorage
from lightning_ctl.controlplane.api.storage_service import StorageServicer
from lightning_ctl.controlplane.storage import open_store
from lightning_ctl.controlplane.storage.coordinator import StorageCoordinator
from lightning_ctl.protos.lightning.v1 import storage_pb2, storage_pb2_grpc
from lightning_ctl.sdk import _content
from lightning_ctl.sdk._storage import PATH_KIND
from lightning_ctl.sdk._storage_types import UploadRequested

DATA = os.urandom(5 << 20)
DIGEST = hashlib.sha256(DATA).hexdigest()


def with_service(tmp_path: Path, scenario: Callable[..., Awaitable[Any]]) -> Any:
    """Run ``scenario(agent, coordinator, channel)`` with an AgentStorage connected to a StorageService over
    loopback (``channel`` lets it make a second agent: one that knows no local copy, like a restarted one)."""

    async def main() -> Any:
        coordinator = StorageCoordinator(open_store(tmp_path / "control-plane"))
        server = grpc.aio.server()
        storage_pb2_grpc.add_StorageServiceServicer_to_server(StorageServicer(coordinator), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                agent = AgentStorage(retry_window_s=2.0)
                agent.use_channel(channel, "token", "agent-1")
                return await scenario(agent, coordinator, channel)
        finally:
            await server.stop(0)

    return asyncio.run(main())


def test_persist_then_fetch_elsewhere_and_again_locally(tmp_path):
    """A persisted file is got over the network once; a second copy on the same machine is a local copy, and a
    second persist of the unchanged file uploads nothing."""
    source = tmp_path / "producer" / "model.bin"
    source.parent.mkdir()
    source.write_bytes(DATA)

    async def scenario(agent: AgentStorage, coordinator: StorageCoordinator, channel: Any) -> None:
        outcome = await agent.persist("root.p", PATH_KIND, "model.bin", str(source))
        assert outcome.persisted and agent.bytes_sent == len(DATA)
        await agent.persist("root.p", PATH_KIND, "model.bin", str(source))
        assert agent.bytes_sent == len(DATA), "an unchanged file was uploaded again"
        first = tmp_path / "consumer" / "model.bin"
        await agent.fetch("root.p", PATH_KIND, "model.bin", str(first), "root.c")
        assert first.read_bytes() == DATA
        second = tmp_path / "other" / "model.bin"
        received = agent.bytes_received
        await agent.fetch("root.p", PATH_KIND, "model.bin", str(second), "root.d")
        assert second.read_bytes() == DATA and agent.bytes_received == received and agent.local_copies >= 1

    with_service(tmp_path, scenario)


def test_a_partial_download_is_resumed(tmp_path):
    """Bytes a previous (interrupted) download left beside the destination are kept: only the rest is fetched."""
    source = tmp_path / "model.bin"
    source.write_bytes(DATA)
    destination = tmp_path / "copy" / "model.bin"
    destination.parent.mkdir()
    Path(_content.partial_path(str(destination), DIGEST)).write_bytes(DATA[: 2 << 20])

    async def scenario(agent: AgentStorage, coordinator: StorageCoordinator, channel: Any) -> None:
        await agent.persist("root.p", PATH_KIND, "model.bin", str(source))
        fresh = AgentStorage()  # another agent (e.g. restarted): it knows no local copy
        fresh.use_channel(channel, "token", "agent-2")
        await fresh.fetch("root.p", PATH_KIND, "model.bin", str(destination), "root.c")
        assert destination.read_bytes() == DATA
        assert fresh.bytes_received == len(DATA) - (2 << 20)

    with_service(tmp_path, scenario)


def test_a_missing_file_is_reported_and_recorded(tmp_path):
    """Persisting a file that does not exist is an outcome saying so (not an exception), and a consumer asking for
    it later is told why it is not there."""

    async def scenario(agent: AgentStorage, coordinator: StorageCoordinator, channel: Any) -> None:
        outcome = await agent.persist("root.p", PATH_KIND, "gone.txt", str(tmp_path / "gone.txt"))
        assert not outcome.persisted and "did not exist" in outcome.problem
        with pytest.raises(TransferFailure) as failure:
            await agent.fetch("root.p", PATH_KIND, "gone.txt", str(tmp_path / "x"), "root.c")
        assert failure.value.kind == storage_pb2.StorageFailure.KIND_NOT_FOUND
        assert "could not persist it" in str(failure.value) and "did not exist" in str(failure.value)

    with_service(tmp_path, scenario)


def test_on_demand_refuses_paths_outside_the_working_directory(tmp_path):
    """The control plane's request for a running work's Path is served only from inside its working directory."""
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    cwd = tmp_path / "work"
    cwd.mkdir()

    async def scenario(agent: AgentStorage, coordinator: StorageCoordinator, channel: Any) -> None:
        waiting = asyncio.ensure_future(coordinator._ask_origin(("root.p", PATH_KIND, "../secret.txt"),
                                                                (1, "agent-1")))
        await asyncio.sleep(0)
        [request_id] = coordinator._requests
        await agent.upload_on_demand(UploadRequested("root.p", 1, "../secret.txt", request_id), str(cwd))
        problem = await waiting
        assert isinstance(problem, str) and "outside" in problem and coordinator.store.list_artifacts() == []

    class Registry:
        placements = {"root.p": type("P", (), {"attempt": 1, "allocation": type("A", (), {"agent_id": "agent-1"})})}
        agents = {"agent-1": object()}
        route = staticmethod(lambda commands: None)

    async def with_registry(agent: AgentStorage, coordinator: StorageCoordinator, channel: Any) -> None:
        coordinator._registry = Registry()  # type: ignore[assignment]
        await scenario(agent, coordinator, channel)

    with_service(tmp_path, with_registry)


def test_a_full_disk_here_names_the_file_and_the_machine(tmp_path, monkeypatch):
    """ENOSPC while writing a copy fails the fetch with a message naming the destination and "no space left", and
    leaves no partial file behind."""
    source = tmp_path / "model.bin"
    source.write_bytes(DATA)
    destination = tmp_path / "copy" / "model.bin"

    def full(self: _content.PartialCopy, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    async def scenario(agent: AgentStorage, coordinator: StorageCoordinator, channel: Any) -> None:
        await agent.persist("root.p", PATH_KIND, "model.bin", str(source))
        fresh = AgentStorage()
        fresh.use_channel(channel, "token", "agent-2")
        monkeypatch.setattr(_content.PartialCopy, "write", full)
        with pytest.raises(TransferFailure, match="no space left") as failure:
            await fresh.fetch("root.p", PATH_KIND, "model.bin", str(destination), "root.c")
        assert str(destination) in str(failure.value) and "root.p" in str(failure.value)
        assert not list(destination.parent.glob(".*partial"))

    with_service(tmp_path, scenario)


def test_a_full_store_is_a_persist_problem_naming_whose_file(tmp_path, monkeypatch):
    """ENOSPC in the control plane's store makes the persist's outcome say the store is full and whose file it was."""
    source = tmp_path / "model.bin"
    source.write_bytes(DATA)
    real_write = _content.PartialCopy.write

    def full_in_staging(self: _content.PartialCopy, data: bytes) -> None:
        if "staging" in self.partial:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, data)

    monkeypatch.setattr(_content.PartialCopy, "write", full_in_staging)

    async def scenario(agent: AgentStorage, coordinator: StorageCoordinator, channel: Any) -> None:
        outcome = await agent.persist("root.p", PATH_KIND, "model.bin", str(source))
        assert not outcome.persisted and "no space left" in outcome.problem and "root.p" in outcome.problem

    with_service(tmp_path, scenario)
