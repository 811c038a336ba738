"""AgentRegistry: routing commands to the agent a work was placed on, waiting, releasing, liveness."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from lightning_ctl.controlplane.agents.app_bundle import AppBundle
from lightning_ctl.controlplane.agents.placement import AgentCapacity
from lightning_ctl.controlplane.agents.registry import AgentRegistry, AgentSession
from lightning_ctl.sdk._events import (
    LaunchWork,
    PlacementPending,
    ResourceRequest,
    RunCall,
    StopWork,
    WorkUnreachable,
)


def session(agent_id: str, gpus: tuple[int, ...] = (), is_local: bool = True) -> AgentSession:
    return AgentSession(AgentCapacity(agent_id, agent_id, 4, 2**33, gpus, is_local=is_local), hostname="h")


def launch(name: str, attempt: int = 1, gpus: int = 0) -> LaunchWork:
    return LaunchWork(name, attempt, "/app.py", {}, resources=ResourceRequest(gpus=gpus))


def drain(agent: AgentSession) -> list[object]:
    out = []
    while not agent.outgoing.empty():
        out.append(agent.outgoing.get_nowait())
    return out


@pytest.fixture
def loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()


class TestRouting:
    def test_launch_and_calls_go_to_the_placed_agent_with_its_gpus(self, loop: asyncio.AbstractEventLoop) -> None:
        """The launch carries the GPUs chosen; later commands follow it to the same agent."""
        registry = AgentRegistry()
        box = session("box", gpus=(0, 1))
        registry.add(box)
        registry.route([launch("root.w", gpus=1), RunCall("root.w", 1, "h", [], {})])
        sent = drain(box)
        assert isinstance(sent[0], LaunchWork) and sent[0].gpu_indices == (0,)
        assert isinstance(sent[1], RunCall)

    def test_launches_carry_the_works_api_key_when_shipped(self, loop: asyncio.AbstractEventLoop) -> None:
        """Every launch leaves with the works' API key (also one that waited for room), the flow's never has it."""
        registry = AgentRegistry()
        registry.works_credential = "work:lctl-key.k.s"
        flows_launch = launch("root.w")
        registry.route([flows_launch])
        box = session("box")
        registry.add(box)
        [sent] = drain(box)
        assert sent.api_credential == "work:lctl-key.k.s" and flows_launch.api_credential == ""
        assert "lctl-key" not in repr(sent)

    def test_work_waits_until_capacity_frees_and_reports_why(self, loop: asyncio.AbstractEventLoop) -> None:
        """A launch that does not fit waits with a reason, and is placed when the holder exits."""
        reports: list[PlacementPending] = []
        registry = AgentRegistry(report_pending=reports.append)
        box = session("box", gpus=(0,))
        registry.add(box)
        registry.route([launch("root.a", gpus=1)])
        registry.route([launch("root.b", gpus=1), RunCall("root.b", 1, "h", [], {})])
        assert [type(c) for c in drain(box)] == [LaunchWork]
        assert reports and reports[0].work_name == "root.b" and "1 GPU" in reports[0].reason
        registry.release("root.a", 1)
        sent = drain(box)
        assert [type(c) for c in sent] == [LaunchWork, RunCall] and sent[0].gpu_indices == (0,)

    def test_a_work_stopped_while_it_waits_is_never_launched(self, loop: asyncio.AbstractEventLoop) -> None:
        """A stop for a launch still waiting for a GPU cancels it: when the GPU frees, nothing starts for it."""
        registry = AgentRegistry()
        box = session("box", gpus=(0,))
        registry.add(box)
        registry.route([launch("root.a", gpus=1)])
        registry.route([launch("root.b", gpus=1), RunCall("root.b", 1, "h", [], {})])
        drain(box)
        registry.route([StopWork("root.b", 1, "stopped by the flow", 1.0)])
        registry.release("root.a", 1)
        assert drain(box) == [] and "root.b" not in registry.placements

    def test_commands_wait_for_the_first_agent(self, loop: asyncio.AbstractEventLoop) -> None:
        """Launches issued before any agent registered are placed when one does."""
        registry = AgentRegistry()
        registry.route([launch("root.w")])
        agent = session("late")
        registry.add(agent)
        assert [type(c) for c in drain(agent)] == [LaunchWork]

    def test_release_of_a_stale_attempt_keeps_the_new_placement(self, loop: asyncio.AbstractEventLoop) -> None:
        """An old attempt's exit does not free what the current attempt holds."""
        registry = AgentRegistry()
        registry.add(session("box", gpus=(0,)))
        registry.route([launch("root.w", attempt=2, gpus=1)])
        registry.release("root.w", 1)
        assert "root.w" in registry.placements


class TestFleet:
    def test_works_waiting_for_a_fleet_are_each_launched_once_as_agents_join(self,
                                                                        loop: asyncio.AbstractEventLoop) -> None:
        """Works waiting for room are placed as agents join one by one, each exactly once, filling each agent to
        its CPUs, and what waits is said to wait."""
        reports: list[PlacementPending] = []
        registry = AgentRegistry(report_pending=reports.append)
        works = [LaunchWork(f"root.w{i}", 1, "/app.py", {}, resources=ResourceRequest(cpus=1)) for i in range(30)]
        registry.route(works)
        agents = [session(f"a{i}") for i in range(8)]  # 4 CPUs each: 32 for 30 works
        sent: dict[str, list[str]] = {}
        for agent in agents:
            registry.add(agent)
            for other in agents:
                sent.setdefault(other.agent_id, []).extend(c.work_name for c in drain(other))
        names = [name for launched in sent.values() for name in launched]
        assert sorted(names) == sorted(w.work_name for w in works)
        assert [len(sent[a.agent_id]) for a in agents] == [4, 4, 4, 4, 4, 4, 4, 2]
        assert registry.waiting_for_agent() == [] and reports

    def test_a_pending_reason_names_a_few_agents_and_counts_the_others(self, loop: asyncio.AbstractEventLoop) -> None:
        """With many agents full, a waiting work's reason stays short: a few agents named, the rest counted."""
        reports: list[PlacementPending] = []
        registry = AgentRegistry(report_pending=reports.append)
        for i in range(40):
            registry.add(session(f"a{i:02d}"))
        registry.route([LaunchWork("root.big", 1, "/app.py", {}, resources=ResourceRequest(cpus=64))])
        [pending] = reports
        assert "a00: 4 of 4 CPUs free" in pending.reason and pending.reason.endswith("; and other agents)")
        assert "a39" not in pending.reason


class TestRemoteAgents:
    def test_remote_launch_waits_for_the_bundle_then_names_it(self, loop: asyncio.AbstractEventLoop,
                                                              tmp_path: Path) -> None:
        """A work placed on a remote agent waits while the code bundle builds, then launches from it."""
        app = tmp_path / "app.py"
        app.write_text("print('hi')\n")
        reports: list[PlacementPending] = []
        registry = AgentRegistry(report_pending=reports.append, bundle=AppBundle(str(app)))
        remote = session("remote", is_local=False)
        registry.add(remote)

        async def scenario() -> list[object]:
            registry.route([launch("root.w")])
            assert reports and "bundle" in reports[0].reason
            deadline = loop.time() + 10
            while remote.outgoing.empty() and loop.time() < deadline:
                await asyncio.sleep(0.01)
            return drain(remote)

        sent = loop.run_until_complete(scenario())
        assert isinstance(sent[0], LaunchWork) and len(sent[0].bundle_digest) == 64
        assert sent[0].app_relpath == "app.py"

    def test_works_waiting_for_the_bundle_are_placed_in_one_retry(self, loop: asyncio.AbstractEventLoop,
                                                                tmp_path: Path) -> None:
        """Many works waiting for the code bundle share one retry once it is built (not one retry each, every
        retry placing all of them again): each work is launched once."""
        app = tmp_path / "app.py"
        app.write_text("print('hi')\n")
        bundle = AppBundle(str(app))
        registry = AgentRegistry(bundle=bundle)
        remote = session("remote", is_local=False)
        registry.add(remote)
        retries: list[int] = []
        retry = registry._retry_waiting

        def counted() -> None:
            retries.append(1)
            retry()

        registry._retry_waiting = counted  # type: ignore[method-assign]

        async def scenario() -> list[object]:
            registry.route([launch(f"root.w{i}") for i in range(20)])
            deadline = loop.time() + 10
            while remote.outgoing.qsize() < 20 and loop.time() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            return drain(remote)

        sent = loop.run_until_complete(scenario())
        assert sorted(c.work_name for c in sent) == sorted(f"root.w{i}" for i in range(20))
        assert len(retries) == 1


class TestLiveness:
    def test_silent_agent_is_disconnected_and_its_stream_closed(self, loop: asyncio.AbstractEventLoop) -> None:
        """An agent past the heartbeat timeout is removed and told to close."""
        registry = AgentRegistry()
        agent = session("quiet")
        closed: list[str] = []
        agent.close = closed.append
        registry.add(agent)
        registry.heard(agent)
        registry.check_liveness(now=time.monotonic() + 10)
        assert "quiet" not in registry.agents and closed and "no message" in closed[0]


class TestStopping:
    @staticmethod
    def placed(*work_names: str) -> tuple[AgentRegistry, AgentSession, list[WorkUnreachable]]:
        """A registry with the works placed on agent "box", and the unreachable works it reports."""
        reported: list[WorkUnreachable] = []
        registry = AgentRegistry(report_unreachable=reported.append)
        box = session("box")
        registry.add(box)
        registry.route([launch(name) for name in work_names])
        return registry, box, reported

    def test_a_stop_for_a_work_whose_agent_is_gone_is_reported_unreachable(
        self, loop: asyncio.AbstractEventLoop
    ) -> None:
        """The agent left: its works' stops cannot be delivered, and the flow loop is told so at once."""
        registry, box, reported = self.placed("root.a")
        registry.remove(box, "gone")
        registry.route([StopWork("root.a", 1, "the app is ending", 30.0)])
        assert [(u.work_name, u.attempt) for u in reported] == [("root.a", 1)]
        assert "box" in reported[0].reason

    def test_an_agent_leaving_while_stopping_reports_its_works_unreachable(
        self, loop: asyncio.AbstractEventLoop
    ) -> None:
        """A stop delivered, then the agent disconnects before the exit came: unreachable, once."""
        registry, box, reported = self.placed("root.a", "root.b")
        registry.route([StopWork("root.a", 1, "bye", 30.0)])
        registry.release("root.b", 1)
        registry.remove(box, "gone")
        assert [u.work_name for u in reported] == ["root.a"]
