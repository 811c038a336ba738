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
    GangSpec,
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


    def test_a_work_asking_a_held_port_does_not_keep_others_of_its_shape_waiting(
            self, loop: asyncio.AbstractEventLoop) -> None:
        """Port 8080 is held: the next work asking for it waits, one of the same resources asking no port is placed
        (the remembered misfit is the port's, not the request's)."""
        registry = AgentRegistry()
        registry.add(session("a"))
        with_port = [LaunchWork(f"root.p{i}", 1, "/app.py", {}, port=8080) for i in range(2)]
        registry.route([*with_port, launch("root.any")])
        assert sorted(registry.placements) == ["root.any", "root.p0"]


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
            first = await asyncio.wait_for(remote.outgoing.get(), 10)
            return [first, *drain(remote)]

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
        retried = asyncio.Event()
        retry = registry._retry_waiting

        def counted() -> None:
            retries.append(1)
            retry()
            retried.set()

        registry._retry_waiting = counted  # type: ignore[method-assign]

        async def scenario() -> list[object]:
            registry.route([launch(f"root.w{i}") for i in range(20)])
            # The bundle's waiters are all called at once when it is built: a second retry would be in this pass.
            await asyncio.wait_for(retried.wait(), timeout=10)
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


def node(name: str, rank: int, size: int = 2, generation: int = 1, attempt: int = 1, gpus: int = 0,
         gang: str = "root.mn") -> LaunchWork:
    return LaunchWork(name, attempt, "/app.py", {}, resources=ResourceRequest(gpus=gpus),
                      gang=GangSpec(gang, size, rank, generation))


def labelled(agent_id: str, gpus: tuple[int, ...], **labels: str) -> AgentSession:
    return AgentSession(AgentCapacity(agent_id, agent_id, 4, 2**33, gpus, labels, is_local=True), hostname="h")


class TestGangs:
    def test_a_gang_waits_for_all_its_nodes_then_goes_out_at_once(self, loop: asyncio.AbstractEventLoop) -> None:
        """Node 0's launch (and the call behind it) waits until node 1's launch arrives; then both are sent."""
        registry = AgentRegistry()
        a, b = session("a"), session("b")
        registry.add(a)
        registry.add(b)
        registry.route([node("root.mn.ws.0", 0), RunCall("root.mn.ws.0", 1, "h", [], {})])
        assert drain(a) == [] and drain(b) == []
        registry.route([node("root.mn.ws.1", 1)])
        sent = drain(a) + drain(b)
        assert sorted(c.work_name for c in sent if isinstance(c, LaunchWork)) == ["root.mn.ws.0", "root.mn.ws.1"]
        assert [c.work_name for c in sent if isinstance(c, RunCall)] == ["root.mn.ws.0"]
        assert registry.placements["root.mn.ws.0"].allocation.agent_id != registry.placements[
            "root.mn.ws.1"].allocation.agent_id

    def test_a_gang_that_does_not_fit_holds_nothing_and_every_node_says_why(
            self, loop: asyncio.AbstractEventLoop) -> None:
        """Two 1-GPU nodes, one GPU agent: no node placed, each pending with the gang's reason; a second GPU agent
        joining places both."""
        reports: list[PlacementPending] = []
        registry = AgentRegistry(report_pending=reports.append)
        first = session("first", gpus=(0,))
        registry.add(first)
        registry.route([node("root.mn.ws.0", 0, gpus=1), node("root.mn.ws.1", 1, gpus=1)])
        assert registry.placements == {} and drain(first) == []
        assert {r.work_name for r in reports} == {"root.mn.ws.0", "root.mn.ws.1"}
        assert all(r.reason.startswith("gang root.mn needs 2 agents") and r.for_capacity for r in reports)
        assert sorted(w.work_name for w in registry.waiting_for_agent()) == ["root.mn.ws.0", "root.mn.ws.1"]
        second = session("second", gpus=(0,))
        registry.add(second)
        assert len(drain(first)) == 1 and len(drain(second)) == 1
        assert registry.waiting_for_agent() == []

    def test_a_stale_generation_never_completes_a_new_one(self, loop: asyncio.AbstractEventLoop) -> None:
        """Node 0 of generation 2 does not pair with node 1 of generation 1."""
        registry = AgentRegistry()
        registry.add(session("a"))
        registry.add(session("b"))
        registry.route([node("root.mn.ws.1", 1, generation=1), node("root.mn.ws.0", 0, generation=2, attempt=2)])
        assert registry.placements == {}


class TestGangsAndTheUnfitCache:
    def test_a_gang_beside_a_single_work_of_its_shape_keeps_its_own_reason(
            self, loop: asyncio.AbstractEventLoop) -> None:
        """A single 1-GPU work found no room: the 1-GPU gang routed again after it still gets a gang's decision
        and reason, never the single work's remembered one."""
        reports: list[PlacementPending] = []
        registry = AgentRegistry(report_pending=reports.append)
        registry.add(session("a", gpus=(0,)))
        registry.route([launch("root.w", gpus=1), launch("root.v", gpus=1)])
        registry.route([node("root.mn.ws.0", 0, gpus=1), node("root.mn.ws.1", 1, gpus=1)])
        registry.add(session("b"))  # more room of nothing anyone asks: every waiting launch is routed again
        last = {r.work_name: r.reason for r in reports}
        assert last["root.v"].startswith("no agent has 1 GPU free")
        assert last["root.mn.ws.0"].startswith("gang root.mn needs 2 agents with 1 GPU free; 0 have"), last
        assert "b: 0 of 0 GPUs free" in last["root.mn.ws.1"]

    def test_what_a_gang_gives_back_goes_to_the_next_gang_then_to_a_single_work(
            self, loop: asyncio.AbstractEventLoop) -> None:
        """Two gangs wanting the same two agents never deadlock: the second is placed whole once the first's nodes
        exit, and a single work waiting with the same request is placed once the second gang's nodes exit."""
        registry = AgentRegistry()
        a, b = session("a", gpus=(0,)), session("b", gpus=(0,))
        registry.add(a)
        registry.add(b)
        first = [node(f"root.g1.ws.{rank}", rank, gpus=1, gang="root.g1") for rank in range(2)]
        second = [node(f"root.g2.ws.{rank}", rank, gpus=1, gang="root.g2") for rank in range(2)]
        registry.route([*first, *second])
        assert sorted(registry.placements) == ["root.g1.ws.0", "root.g1.ws.1"]
        registry.release("root.g1.ws.0", 1)
        assert sorted(registry.placements) == ["root.g1.ws.1"], "half the room a gang needs places none of it"
        registry.release("root.g1.ws.1", 1)
        assert sorted(registry.placements) == ["root.g2.ws.0", "root.g2.ws.1"]
        registry.route([launch("root.v", gpus=1), launch("root.u", gpus=1)])  # no room: remembered as unfit
        assert "root.v" not in registry.placements
        registry.release("root.g2.ws.0", 1)
        assert "root.v" in registry.placements and "root.u" not in registry.placements
        sent = [c.work_name for c in drain(a) + drain(b) if isinstance(c, LaunchWork)]
        assert sorted(sent) == sorted([*(n.work_name for n in first + second), "root.v"])
        assert registry.placements["root.v"].allocation.agent_id != registry.placements[
            "root.g2.ws.1"].allocation.agent_id

    def test_room_a_gang_left_behind_by_moving_is_used_once_its_old_nodes_exit(
            self, loop: asyncio.AbstractEventLoop) -> None:
        """A gang's next generation placed on other agents gives back the old agents in the book at once, but
        their processes still run: a work waiting for those agents is placed when the old nodes exit."""
        registry = AgentRegistry()
        registry.add(labelled("y", (0,), zone="x"))
        registry.add(labelled("z", (0,), zone="x"))
        registry.route([node("root.mn.ws.0", 0, gpus=1), node("root.mn.ws.1", 1, gpus=1)])
        waiting = LaunchWork("root.v", 1, "/app.py", {}, resources=ResourceRequest(gpus=1, labels={"zone": "x"}))
        registry.route([waiting])
        registry.add(session("b", gpus=(0,)))
        registry.add(session("c", gpus=(0,)))
        registry.route([node("root.mn.ws.0", 0, gpus=1, generation=2, attempt=2),
                        node("root.mn.ws.1", 1, gpus=1, generation=2, attempt=2)])
        assert {registry.placements[f"root.mn.ws.{r}"].allocation.agent_id for r in range(2)} == {"b", "c"}
        assert "root.v" not in registry.placements
        registry.release("root.mn.ws.0", 1)
        placed = registry.placements.get("root.v")
        assert placed is not None and placed.allocation.agent_id in {"y", "z"}
