"""Gang placement: every node of a MultiNode at once or none, one per agent unless packing, one readable reason."""

from __future__ import annotations

from lightning_ctl.controlplane.agents.placement import (
    AgentCapacity,
    Allocation,
    Holdings,
    Pending,
    place_gang,
    place_work,
)
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


class TestOnHoldings:
    def test_the_callers_holdings_are_left_as_they_were(self) -> None:
        """Placed or pending, a gang decided on the caller's Holdings leaves them unchanged (the caller records
        the placements)."""
        holdings = Holdings([Allocation("a", cpus=1, gpu_indices=(0,))])
        agents = [agent("a", (0, 1)), agent("b", (0,))]
        placed = place_gang("root.mn", nodes(2, gpus=1), agents, holdings)
        assert isinstance(placed, list) and sorted(a.agent_id for a in placed) == ["a", "b"]
        assert isinstance(place_gang("root.mn", nodes(3, gpus=1), agents, holdings), Pending)
        assert holdings.works_on("a") == 1 and holdings.works_on("b") == 0
        assert holdings.free_gpus(agents[0]) == [1] and holdings.free_gpus(agents[1]) == [0]
        assert place_work(ResourceRequest(cpus=8), [agents[0]], holdings) == Pending(
            "no agent has 8 CPUs free (a: 7 of 8 CPUs free)")

    def test_nodes_placed_earlier_count_against_the_later_ones(self) -> None:
        """pack: the second node sees the GPUs the first one took on the same agent."""
        holdings = Holdings()
        decision = place_gang("root.mn", nodes(2, gpus=2), [agent("big", (0, 1, 2, 3))], holdings, pack=True)
        assert isinstance(decision, list) and [a.gpu_indices for a in decision] == [(0, 1), (2, 3)]


class TestPorts:
    def test_a_node_asking_a_port_avoids_the_agent_where_another_work_holds_it(self) -> None:
        """Node 0 asks for 8080, held on agent a by another work: the gang goes where the port is free."""
        agents = [agent("a"), agent("b"), agent("c")]
        decision = place_gang("root.mn", nodes(2), agents, [Allocation("a", port=8080)], ports=[8080, 0])
        assert isinstance(decision, list) and decision[0].agent_id != "a" and decision[0].port == 8080
        assert decision[1].port == 0

    def test_packed_nodes_asking_the_same_port_do_not_share_an_agent(self) -> None:
        """pack: two nodes asking port 8080 cannot share the one agent; the reason names the port."""
        decision = place_gang("root.mn", nodes(2), [agent("big")], [], pack=True, ports=[8080, 8080])
        assert isinstance(decision, Pending)
        assert decision.reason.startswith("gang root.mn needs room for 2 nodes with no particular resources and "
                                          "port 8080; the agents have room for 1")
        assert isinstance(place_gang("root.mn", nodes(2), [agent("big")], [], pack=True, ports=[8080, 8081]), list)

    def test_a_full_port_range_counts_against_the_gang(self) -> None:
        """An agent whose port range is held by its works takes no node; the reason says so."""
        ranged = AgentCapacity("r", "r", 8, 32 * GiB, (), ports=(30000, 30000))
        decision = place_gang("root.mn", nodes(2), [ranged, agent("b")], [Allocation("r")])
        assert isinstance(decision, Pending)
        assert decision.reason == ("gang root.mn needs 2 agents with a port free; 1 has "
                                   "(r: every port of its range 30000-30000 held by its works)")
