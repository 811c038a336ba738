"""Tests for controlplane.client against a real in-process AppService (no processes): each call's result, and
the one table that turns gRPC failures into exit codes. Also the app service's codec round trips."""

from __future__ import annotations

import asyncio
import queue
from typing import Any, Awaitable, Callable

import grpc
import pytest

from lightning_ctl.controlplane.agents.placement import AgentCapacity, Allocation
from lightning_ctl.controlplane.agents.placement_book import WorkPlacement
from lightning_ctl.controlplane.agents.registry import AgentRegistry, AgentSession
from lightning_ctl.controlplane.api import app_codec
from lightning_ctl.controlplane.api.app_service import AppServicer
from lightning_ctl.controlplane.api.app_view import (
    AgentView,
    AppView,
    LogBatch,
    LogLine,
    RequestView,
    WorkView,
)
from lightning_ctl.controlplane.api.client import (
    AppClient,
    ControlPlaneUnreachableError,
    InvalidRequestError,
    OperationFailedError,
    Target,
    TokenRefusedError,
    _error_from_rpc,
)
from lightning_ctl.controlplane.api.interceptors import AuthInterceptor
from lightning_ctl.controlplane.credential_store import CredentialStore
from lightning_ctl.controlplane.flows.flow_runtime import FlowRuntime
from lightning_ctl.controlplane.flows.loop import AppEnded, FlowLoop, StopRequested
from lightning_ctl.controlplane.flows.queries import Query, QueryBox
from lightning_ctl.controlplane.output.log_store import LogStore
from lightning_ctl.protos.lightning.v1 import app_pb2_grpc
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk._events import ProcessExited, ProcessStarted, WorkEvent
from lightning_ctl.sdk._runtime import set_runtime
from tests.helpers import free_port, wait_until

TOKEN = "t0ken"
TIMEOUT_S = 10.0


class Job(LightningWork):
    def __init__(self) -> None:
        super().__init__(parallel=True, start_with_flow=False)
        self.count = 0

    def run(self) -> None:
        self.count += 1


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.job = Job()
        self.other = Job()
        self.note = "hi"

    def run(self) -> None:
        self.job.run()


class Service:
    """An AppService on 127.0.0.1 backed by a real FlowLoop, registry and log store."""

    def __init__(self) -> None:
        self.stops: list[str] = []
        self.ended: queue.Queue[AppEnded] = queue.Queue()
        self.loop = FlowLoop(
            LightningApp(Root()), FlowRuntime("/apps/app.py", {}, 1.0), lambda c: None, self.ended.put
        )
        self.registry = AgentRegistry()
        self.log_store = LogStore()
        self.credentials = CredentialStore(TOKEN)

    async def __aenter__(self) -> Service:
        def submit(query: Query) -> bool:
            self.loop.inbox.put(query)  # type: ignore[arg-type]
            return True

        self.queries = QueryBox(submit)
        self.servicer = AppServicer(
            self.registry,
            self.log_store,
            self.queries,
            self.stops.append,
            self.credentials,
            "/apps/app.py",
            heartbeat_interval_s=1.0,
        )
        self.server = grpc.aio.server(interceptors=[AuthInterceptor(self.credentials)])
        app_pb2_grpc.add_AppServiceServicer_to_server(self.servicer, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        await self.server.start()
        self.loop.start()
        await asyncio.to_thread(wait_until, lambda: "root.job" in self.loop.runtime.works, TIMEOUT_S)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.queries.close()
        self.log_store.close()
        self.servicer.close()
        await self.server.stop(grace=0.5)
        self.loop.inbox.put(StopRequested(0, "test teardown"))
        await asyncio.to_thread(self.loop._thread.join, TIMEOUT_S)
        set_runtime(None)

    def target(self, token: str = TOKEN) -> Target:
        return Target(f"127.0.0.1:{self.port}", token)


def run_with_service(scenario: Callable[[Service], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with Service() as service:
            return await asyncio.wait_for(scenario(service), TIMEOUT_S)

    return asyncio.run(main())


def test_status_merges_flow_statuses_with_placements_and_agents() -> None:
    """GetStatus: the flow thread's works with their agent, pid and GPUs from the registry; the agents' usage."""

    async def scenario(service: Service) -> AppView:
        service.loop.inbox.put(WorkEvent("root.job", 1, 1, ProcessStarted(321)))
        await asyncio.to_thread(
            wait_until, lambda: service.loop.runtime.works["root.job"].pid == 321, TIMEOUT_S
        )
        session = AgentSession(AgentCapacity("a1", "gpu-1", 8.0, 2**34, (0, 1)), "box")
        service.registry.add(session)
        service.registry.placements["root.job"] = WorkPlacement(1, Allocation("a1", cpus=2.0, gpu_indices=(1,)))
        async with AppClient(service.target()) as client:
            app = await client.status()
        service.loop.inbox.put(
            WorkEvent("root.job", 1, 2, ProcessExited(321, 0))
        )  # nothing to wait for at the end
        return app

    app = run_with_service(scenario)
    assert app.stage == "running" and app.app_path == "/apps/app.py" and app.pid > 0
    job, other = sorted(app.works, key=lambda w: w.work_name)
    assert (job.work_name, job.attempt, job.pid, job.agent_name, job.gpu_indices) == (
        "root.job",
        1,
        321,
        "gpu-1",
        (1,),
    )
    assert job.restarts == 0
    assert (other.work_name, other.stage, other.agent_name) == ("root.other", "not_started", "")
    (agent,) = app.agents
    assert (agent.name, agent.hostname, agent.cpus_used, agent.cpus_total) == ("gpu-1", "box", 2.0, 8.0)
    assert agent.gpus_used == (1,) and agent.gpu_indices == (0, 1) and agent.work_names == ("root.job",)
    assert agent.state == "connected" and agent.last_heartbeat_age_s < 5


def test_agents_lists_connected_agents_and_flags_silent_ones() -> None:
    """ListAgents: an agent whose heartbeat is overdue (over 2 periods) shows as silent."""

    async def scenario(service: Service) -> list[AgentView]:
        session = AgentSession(AgentCapacity("a2", "late", 2.0, 2**30, ()), "h2")
        session.last_heartbeat -= 5.0
        service.registry.add(session)
        async with AppClient(service.target()) as client:
            return await client.agents()

    (agent,) = run_with_service(scenario)
    assert agent.name == "late" and agent.state == "silent" and agent.last_heartbeat_age_s >= 5.0


def test_state_pretty_and_full() -> None:
    """GetState: the pretty_state view by default (with the app's stage), the whole state with full."""

    async def scenario(service: Service) -> tuple[dict, dict]:
        async with AppClient(service.target()) as client:
            return await client.state(), await client.state(full=True)

    pretty, full = run_with_service(scenario)
    assert pretty["vars"] == {"note": "hi"} and pretty["app_state"] == {"stage": "running"}
    assert "calls" not in pretty and "calls" in full and "calls" in full["works"]["job"]


def test_watch_state_sends_the_state_then_each_change() -> None:
    """WatchState: the current state first, then a new message only when the state changed."""

    async def scenario(service: Service) -> list[Any]:
        seen = []
        async with AppClient(service.target()) as client:
            async for _, state in client.watch_state(interval_s=0.05):
                seen.append(state["vars"]["note"])
                if len(seen) == 1:
                    service.loop.inbox.put(
                        Query(
                            lambda app, runtime: setattr(app.root, "note", "changed"),
                            asyncio.get_running_loop().create_future(),
                        )
                    )
                else:
                    return seen
        return seen

    assert run_with_service(scenario) == ["hi", "changed"]


def test_logs_resolve_suffixes_and_follow_new_lines() -> None:
    """StreamLogs: a suffix names its work; --tail limits the kept lines; follow then streams new ones."""

    async def scenario(service: Service) -> tuple[list[str], list[str]]:
        service.log_store.append("root.job", "stdout", ["one", "two", "three"])
        service.log_store.append("root.other", "stdout", ["elsewhere"])
        async with AppClient(service.target()) as client:
            kept = [line.text async for batch in client.logs(["job"], tail=2) for line in batch.lines]
            followed: list[str] = []

            async def print_until_followed() -> None:  # the follower subscribes at some point: keep printing
                while True:
                    service.log_store.append("root.job", "stderr", ["live"])
                    await asyncio.sleep(0.05)

            printer = asyncio.ensure_future(print_until_followed())
            async for batch in client.logs(["job"], tail=0, follow=True):
                followed.extend(line.text for line in batch.lines)
                break
            printer.cancel()
            return kept, followed

    kept, followed = run_with_service(scenario)
    assert kept == ["two", "three"]
    assert followed and set(followed) == {"live"}


def test_follow_ends_cleanly_when_the_app_ends() -> None:
    """A follower's stream ends (no error) once the log store closes at the app's end."""

    async def scenario(service: Service) -> list[LogBatch]:
        async with AppClient(service.target()) as client:
            batches = []
            stream = client.logs(follow=True)
            asyncio.get_running_loop().call_later(0.2, service.log_store.close)
            async for batch in stream:
                batches.append(batch)
            return batches

    assert run_with_service(scenario) == []


def test_ambiguous_or_unknown_work_is_an_invalid_request() -> None:
    """A WORK matching several works (or none) is INVALID_ARGUMENT: exit code 2 with the server's message."""

    async def scenario(service: Service) -> list[BaseException]:
        errors = []
        async with AppClient(service.target()) as client:
            for name in ("r", "job.x"):
                try:
                    [b async for b in client.logs([name])]
                except InvalidRequestError as exc:
                    errors.append(exc)
        return errors

    unknown, unknown_too = run_with_service(scenario)
    assert unknown.exit_code == 2 and "no work is named 'r'" in str(unknown)
    assert "root.job" in str(unknown_too)


def test_stop_asks_the_app_to_stop() -> None:
    """StopApp hands the reason to the app (a default one when none is given)."""

    async def scenario(service: Service) -> list[str]:
        async with AppClient(service.target()) as client:
            await client.stop()
            await client.stop("maintenance")
        return service.stops

    assert run_with_service(scenario) == ["stopped by lightning-ctl stop", "maintenance"]


def test_wrong_token_is_refused_with_exit_code_4() -> None:
    """A wrong token is UNAUTHENTICATED, which the client reports as TokenRefusedError (exit 4)."""

    async def scenario(service: Service) -> TokenRefusedError:
        async with AppClient(service.target("wrong")) as client:
            with pytest.raises(TokenRefusedError) as caught:
                await client.status()
        return caught.value

    error = run_with_service(scenario)
    assert error.exit_code == 4 and str(error).endswith("refused the token: credential refused: unknown token")


def test_app_that_ended_fails_the_operation_with_exit_code_1() -> None:
    """Once the flow loop ended, status fails with the server's reason (exit 1), not a hang."""

    async def scenario(service: Service) -> OperationFailedError:
        service.queries.close("the app has ended")
        async with AppClient(service.target()) as client:
            with pytest.raises(OperationFailedError) as caught:
                await client.status()
        return caught.value

    error = run_with_service(scenario)
    assert error.exit_code == 1 and str(error) == "the app has ended"


def test_nothing_listening_is_unreachable_with_exit_code_3() -> None:
    """No control plane at the address: ControlPlaneUnreachableError (exit 3) naming the address."""

    async def scenario() -> ControlPlaneUnreachableError:
        target = Target(f"127.0.0.1:{free_port()}", TOKEN)
        async with AppClient(target, timeout_s=2.0) as client:
            with pytest.raises(ControlPlaneUnreachableError) as caught:
                await client.status()
        return caught.value

    error = asyncio.run(scenario())
    assert error.exit_code == 3 and str(error).startswith("cannot reach the control plane at 127.0.0.1:")


@pytest.mark.parametrize(
    ("code", "details", "streaming", "kind", "message"),
    [
        (
            grpc.StatusCode.UNAVAILABLE,
            "connection refused",
            False,
            ControlPlaneUnreachableError,
            "cannot reach the control plane at h:1",
        ),
        (
            grpc.StatusCode.DEADLINE_EXCEEDED,
            "",
            False,
            ControlPlaneUnreachableError,
            "cannot reach the control plane at h:1",
        ),
        (
            grpc.StatusCode.UNAVAILABLE,
            "",
            True,
            ControlPlaneUnreachableError,
            "lost the connection to the control plane at h:1",
        ),
        (
            grpc.StatusCode.UNAUTHENTICATED,
            "missing or wrong token",
            False,
            TokenRefusedError,
            "the control plane at h:1 refused the token: missing or wrong token",
        ),
        (
            grpc.StatusCode.PERMISSION_DENIED,
            "an agent credential only serves its agent's stream",
            False,
            TokenRefusedError,
            "the control plane at h:1 refused the token: an agent credential only serves its agent's stream",
        ),
        (
            grpc.StatusCode.INVALID_ARGUMENT,
            "work name 'w' is ambiguous",
            False,
            InvalidRequestError,
            "work name 'w' is ambiguous",
        ),
        (
            grpc.StatusCode.FAILED_PRECONDITION,
            "the app has ended\nmore",
            False,
            OperationFailedError,
            "the app has ended",
        ),
        (grpc.StatusCode.INTERNAL, "", False, OperationFailedError, "internal"),
    ],
)
def test_error_table(code, details, streaming, kind, message) -> None:  # noqa: ANN001
    """Each gRPC status maps to one error class (and exit code) with a one-line message."""
    exc = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)
    error = _error_from_rpc(exc, "h:1", streaming)
    assert type(error) is kind and str(error) == message and "\n" not in str(error)


def test_app_codec_round_trips() -> None:
    """Every AppService message converts to protobuf and back unchanged."""
    work = WorkView(
        "root.w", "failed", "user_exception", "Traceback...", 1.5, 1.0, 3, 99, True, "a1", "gpu", (0, 2)
    )
    agent = AgentView(
        "a1",
        "gpu",
        "box",
        True,
        {"zone": "b"},
        8.0,
        2.5,
        2**34,
        2**30,
        (0, 1, 2),
        (0, 2),
        ("root.w",),
        0.7,
        "silent",
    )
    app = AppView("running", "/a.py", 12, (work,), (agent,))
    assert app_codec.app_from_pb(app_codec.app_to_pb(app)) == app
    assert app_codec.work_from_pb(app_codec.work_to_pb(work)) == work
    assert app_codec.agent_from_pb(app_codec.agent_to_pb(agent)) == agent
    request = RequestView("r1", "slurm", "42", "queued", "Resources", "1 GPU", 1, "root.w", 5.5, "n1")
    requested = AgentView("", "r1", state="queued", request=request)
    assert app_codec.agent_from_pb(app_codec.agent_to_pb(requested)) == requested
    batch = LogBatch(
        (LogLine("root.w", 2.5, "stderr", "oops \ufffd"), LogLine("root.w", 3.0, "stdout", "")), 7
    )
    assert app_codec.log_batch_from_pb(app_codec.log_batch_to_pb(batch)) == batch
