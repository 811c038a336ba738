"""AgentStorage against a real StorageService (gRPC on loopback behind the real authentication, agents with their
own credentials, a store in a temporary folder): dedup, local copies, resumed downloads, refusals, and the messages of
a full disk."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest

from lightning_ctl.agent.errors import TransferFailure
from lightning_ctl.agent.work_storage import AgentStorage
from lightning_ctl.controlplane.api.interceptors import AuthInterceptor
from lightning_ctl.controlplane.api.storage_service import StorageServicer
from lightning_ctl.controlplane.credential_store import CredentialStore
from lightning_ctl.controlplane.storage import open_store
from lightning_ctl.controlplane.storage.coordinator import StorageCoordinator
from lightning_ctl.protos.lightning.v1 import storage_pb2, storage_pb2_grpc
from lightning_ctl.sdk import _content
from lightning_ctl.sdk._storage import PATH_KIND
from lightning_ctl.sdk._storage_types import FailureKind, UploadRequested

DATA = os.urandom(5 << 20)
DIGEST = hashlib.sha256(DATA).hexdigest()
OPERATOR_TOKEN = "operator-token-for-tests"


def bearer(credential: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {credential}"),)


class Service:
    """A StorageService behind the control plane's authentication, with agents joined to it."""

    def __init__(self, channel: grpc.aio.Channel, credentials: CredentialStore) -> None:
        self.channel = channel
        self.credentials = credentials

    def agent(self, agent_id: str, **options: Any) -> AgentStorage:
        """An AgentStorage holding the credential of a newly joined agent ``agent_id``."""
        join = self.credentials.issue_join_token()
        credential, _ = self.credentials.join(join.token_id, agent_id, agent_id)
        agent = AgentStorage(**options)
        agent.use_channel(self.channel, bearer(credential))
        return agent


class Registry:
    """root.p placed on agent-1 (what the coordinator reads of the agent registry)."""

    placements = {"root.p": SimpleNamespace(attempt=1, allocation=SimpleNamespace(agent_id="agent-1"))}
    agents = {"agent-1": object()}
    route = staticmethod(lambda commands: None)


def with_service(tmp_path: Path, scenario: Callable[..., Awaitable[Any]]) -> Any:
    """Run ``scenario(agent, coordinator, service)`` with an AgentStorage (agent "agent-1") connected to a
    StorageService over loopback (``service.agent(id)`` makes another agent: one that knows no local copy, like a
    restarted one)."""

    async def main() -> Any:
        coordinator = StorageCoordinator(open_store(tmp_path / "control-plane"))
        credentials = CredentialStore(OPERATOR_TOKEN)
        server = grpc.aio.server(interceptors=[AuthInterceptor(credentials)])
        storage_pb2_grpc.add_StorageServiceServicer_to_server(StorageServicer(coordinator, credentials), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                service = Service(channel, credentials)
                return await scenario(service.agent("agent-1", retry_window_s=2.0), coordinator, service)
        finally:
            await server.stop(0)

    return asyncio.run(main())


def test_persist_then_fetch_elsewhere_and_again_locally(tmp_path):
    """A persisted file is got over the network once; a second copy on the same machine is a local copy, and a
    second persist of the unchanged file uploads nothing."""
    source = tmp_path / "producer" / "model.bin"
    source.parent.mkdir()
    source.write_bytes(DATA)

    async def scenario(agent: AgentStorage, coordinator: StorageCoordinator, service: Service) -> None:
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

    async def scenario(agent: AgentStorage, coordinator: StorageCoordinator, service: Service) -> None:
        await agent.persist("root.p", PATH_KIND, "model.bin", str(source))
        fresh = service.agent("agent-2")  # another agent (e.g. restarted): it knows no local copy
        await fresh.fetch("root.p", PATH_KIND, "model.bin", str(destination), "root.c")
        assert destination.read_bytes() == DATA
        assert fresh.bytes_received == len(DATA) - (2 << 20)

    with_service(tmp_path, scenario)


def test_a_missing_file_is_reported_and_recorded(tmp_path):
    """Persisting a file that does not exist is an outcome saying so (not an exception), and a consumer asking for
    it later is told why it is not there."""

    async def scenario(agent: AgentStorage, coordinator: StorageCoordinator, service: Service) -> None:
        outcome = await agent.persist("root.p", PATH_KIND, "gone.txt", str(tmp_path / "gone.txt"))
        assert not outcome.persisted and "did not exist" in outcome.problem
        with pytest.raises(TransferFailure) as failure:
            await agent.fetch("root.p", PATH_KIND, "gone.txt", str(tmp_path / "x"), "root.c")
        assert failure.value.kind == FailureKind.NOT_FOUND
        assert "could not persist it" in str(failure.value) and "did not exist" in str(failure.value)

    with_service(tmp_path, scenario)


def test_on_demand_refuses_paths_outside_the_working_directory(tmp_path):
    """The control plane's request for a running work's Path is served only from inside its working directory."""
    secret = tmp_path / "secret.txt"
    secret.write_text("no")
    cwd = tmp_path / "work"
    cwd.mkdir()

    async def scenario(agent: AgentStorage, coordinator: StorageCoordinator, service: Service) -> None:
        waiting = asyncio.ensure_future(coordinator._ask_origin(("root.p", PATH_KIND, "../secret.txt"),
                                                                (1, "agent-1")))
        await asyncio.sleep(0)
        [request_id] = coordinator._requests
        await agent.upload_on_demand(UploadRequested("root.p", 1, "../secret.txt", request_id), str(cwd))
        problem = await waiting
        assert isinstance(problem, str) and "outside" in problem and coordinator.store.list_artifacts() == []

    async def with_registry(agent: AgentStorage, coordinator: StorageCoordinator, service: Service) -> None:
        coordinator._registry = Registry()  # type: ignore[assignment]
        await scenario(agent, coordinator, service)

    with_service(tmp_path, with_registry)


def test_a_full_disk_here_names_the_file_and_the_machine(tmp_path, monkeypatch):
    """ENOSPC while writing a copy fails the fetch with a message naming the destination and "no space left", and
    leaves no partial file behind."""
    source = tmp_path / "model.bin"
    source.write_bytes(DATA)
    destination = tmp_path / "copy" / "model.bin"

    def full(self: _content.PartialCopy, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    async def scenario(agent: AgentStorage, coordinator: StorageCoordinator, service: Service) -> None:
        await agent.persist("root.p", PATH_KIND, "model.bin", str(source))
        fresh = service.agent("agent-2")
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

    async def scenario(agent: AgentStorage, coordinator: StorageCoordinator, service: Service) -> None:
        outcome = await agent.persist("root.p", PATH_KIND, "model.bin", str(source))
        assert not outcome.persisted and "no space left" in outcome.problem and "root.p" in outcome.problem

    with_service(tmp_path, scenario)


def test_what_an_agent_records_is_recorded_as_the_agent_its_credential_names(tmp_path):
    """A work's artifact is recorded only from the agent it is placed on, and the control plane knows that agent
    by its credential (requests carry no agent id): another agent's persist is refused, saying why."""
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")

    async def scenario(agent: AgentStorage, coordinator: StorageCoordinator, service: Service) -> None:
        coordinator._registry = Registry()  # type: ignore[assignment]
        other = await service.agent("agent-2").persist("root.p", PATH_KIND, "model.bin", str(source))
        assert not other.persisted and "runs on another agent now" in other.problem and "agent-2" in other.problem
        assert coordinator.store.list_artifacts() == []
        own = await agent.persist("root.p", PATH_KIND, "model.bin", str(source))
        assert own.persisted and [a.name for a in coordinator.store.list_artifacts()] == ["model.bin"]

    with_service(tmp_path, scenario)


def test_the_operators_token_only_reads_and_a_join_token_nothing(tmp_path):
    """`lightning-ctl ls/cp` read the store with the operator's token (list, resolve, download); writing with it
    is refused (PERMISSION_DENIED), and a join token opens no storage call at all."""
    source = tmp_path / "model.bin"
    source.write_bytes(DATA)

    async def scenario(agent: AgentStorage, coordinator: StorageCoordinator, service: Service) -> None:
        await agent.persist("root.p", PATH_KIND, "model.bin", str(source))
        stub = storage_pb2_grpc.StorageServiceStub(service.channel)
        operator = bearer(OPERATOR_TOKEN)
        listed = await stub.ListArtifacts(storage_pb2.ListArtifactsRequest(), metadata=operator)
        assert [a.name for a in listed.artifacts] == ["model.bin"]
        resolved = await stub.ResolveArtifact(storage_pb2.ResolveArtifactRequest(
            work_name="root.p", kind=storage_pb2.ARTIFACT_KIND_PATH, name="model.bin"), metadata=operator)
        chunks = [c.data async for c in stub.DownloadBlob(
            storage_pb2.DownloadBlobRequest(digest=resolved.files[0].digest), metadata=operator)]
        assert b"".join(chunks) == DATA
        writes = [
            stub.StatBlob(storage_pb2.StatBlobRequest(digest=DIGEST), metadata=operator),
            stub.CommitArtifact(storage_pb2.CommitArtifactRequest(artifact=resolved), metadata=operator),
            stub.DeleteDriveFiles(storage_pb2.DeleteDriveFilesRequest(drive_id="d", component="c", path="x"),
                                  metadata=operator),
        ]
        for call in writes:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        join = service.credentials.issue_join_token()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListDrive(storage_pb2.ListDriveRequest(), metadata=bearer(join.token))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

    with_service(tmp_path, scenario)
