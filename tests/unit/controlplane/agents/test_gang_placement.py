"""Gang placement: every node of a MultiNode at once or none, one per agent unless packing, one readable reason."""

from __future__ import annotations

from lightning_ctl.controlplane.agents.placement import AgentCapacity, Allocation, Pending, place_gang
from lightning_ctl.sdk._events import ResourceRequest

GiB = 2**30


def agent(agent_id: str, gpus: tuple[int, ...] = (), cpus: float = 8) -> AgentCapacity:
    return AgentCapacity(agent_id, agent_id, cpus, 32 * GiB, gpus)


def nodes(count: int, gpus: int = 0) -> list[ResourceRequest]:
    return [ResourceRequest(gpus=gpus)] * count


class TestAllOrNothing:
    def test_each_node_gets_an_agent_of_its_own(self) -> None:
        """Three nodes on three agents: one allocation per node, no agent twice."""
        decision = place_gang("root.mn", nodes(3), [agent("a"), agent("b"), agent("c")], [])
        assert isinstance(decision, list) and len({a.agent_id for a in decision}) == 3

    def test_too_few_agents_places_no_node_and_says_how_many(self) -> None:
        """With 3 agents able to take a 1-GPU node and 4 nodes wanted, nothing is placed; the reason counts both."""
        agents = [agent("a", (0,)), agent("b", (0,)), agent("c", (0,)), agent("cpu")]
        decision = place_gang("root.train", nodes(4, gpus=1), agents, [])
        assert isinstance(decision, Pending)
        assert decision.reason.startswith("gang root.train needs 4 agents with 1 GPU")
        assert "; 3 have" in decision.reason and "cpu: 0 of 0 GPUs free" in decision.reason

    def test_busy_gpus_count_against_the_gang(self) -> None:
        """An agent whose GPU another work holds is not counted: the gang waits for it."""
        agents = [agent("a", (0,)), agent("b", (0,))]
        decision = place_gang("root.mn", nodes(2, gpus=1), agents, [Allocation("b", gpu_indices=(0,))])
        assert isinstance(decision, Pending) and "1 has" in decision.reason

    def test_nodes_of_nothing_in_particular_say_how_many_agents(self) -> None:
        """A CPU gang's reason counts connected agents."""
        decision = place_gang("root.mn", nodes(3), [agent("a"), agent("b")], [])
        assert isinstance(decision, Pending) and decision.reason == "gang root.mn needs 3 agents; 2 are connected"


class TestPacking:
    def test_packed_nodes_share_an_agent_with_their_own_gpus(self) -> None:
        """pack: two 1-GPU nodes on one 2-GPU agent, GPUs 0 and 1."""
        decision = place_gang("root.mn", nodes(2, gpus=1), [agent("big", (0, 1))], [], pack=True)
        assert isinstance(decision, list)
        assert [a.agent_id for a in decision] == ["big", "big"]
        assert sorted(a.gpu_indices for a in decision) == [(0,), (1,)]

    def test_packing_still_waits_when_the_room_is_short(self) -> None:
        """pack: three 1-GPU nodes and two GPUs in all: pending, naming the room there is."""
        decision = place_gang("root.mn", nodes(3, gpus=1), [agent("big", (0, 1))], [], pack=True)
        assert isinstance(decision, Pending) and "room for 2" in decision.reason

    def test_without_packing_one_big_agent_is_not_enough(self) -> None:
        """No pack: two nodes never share the 2-GPU agent."""
        decision = place_gang("root.mn", nodes(2, gpus=1), [agent("big", (0, 1))], [])
        assert isinstance(decision, Pending)
