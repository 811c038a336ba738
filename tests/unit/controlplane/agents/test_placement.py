"""Placement decisions: what fits where, GPU packing, and readable reasons when nothing fits."""

from __future__ import annotations

from lightning_ctl.controlplane.agents.placement import (
    AgentCapacity,
    Allocation,
    Pending,
    describe,
    place_work,
)
from lightning_ctl.sdk._events import ResourceRequest

GiB = 2**30


def agent(agent_id: str, cpus: float = 8, memory: int = 32 * GiB, gpus: tuple[int, ...] = (),
          labels: dict[str, str] | None = None) -> AgentCapacity:
    return AgentCapacity(agent_id, agent_id, cpus, memory, gpus, labels or {})


class TestFit:
    def test_no_agent_means_pending(self) -> None:
        """Without agents the work waits, saying so."""
        decision = place_work(ResourceRequest(), [], [])
        assert isinstance(decision, Pending) and "no agent is connected" in decision.reason

    def test_plain_work_goes_to_the_agent_with_fewest_works(self) -> None:
        """Works asking for nothing in particular spread by number of works placed."""
        busy, idle = agent("busy"), agent("idle")
        decision = place_work(ResourceRequest(), [busy, idle], [Allocation("busy")])
        assert decision == Allocation("idle")

    def test_gpus_are_taken_from_the_free_ones(self) -> None:
        """A GPU work gets GPUs no other work holds."""
        box = agent("box", gpus=(0, 1, 2, 3))
        decision = place_work(ResourceRequest(gpus=2), [box], [Allocation("box", gpu_indices=(0, 2))])
        assert decision == Allocation("box", gpu_indices=(1, 3))

    def test_gpu_work_packs_onto_the_fullest_agent_that_fits(self) -> None:
        """One GPU goes where it leaves the fewest idle, keeping whole machines free for multi-GPU works."""
        big, small = agent("big", gpus=(0, 1, 2, 3)), agent("small", gpus=(0, 1))
        decision = place_work(ResourceRequest(gpus=1), [big, small], [Allocation("small", gpu_indices=(0,))])
        assert isinstance(decision, Allocation) and decision.agent_id == "small" and decision.gpu_indices == (1,)

    def test_explicit_cpus_and_memory_are_accounted(self) -> None:
        """CPUs and memory held by placed works are not offered again."""
        box = agent("box", cpus=4, memory=8 * GiB)
        held = [Allocation("box", cpus=3, memory_bytes=2 * GiB)]
        assert isinstance(place_work(ResourceRequest(cpus=2), [box], held), Pending)
        assert isinstance(place_work(ResourceRequest(memory_bytes=7 * GiB), [box], held), Pending)
        assert isinstance(place_work(ResourceRequest(cpus=1, memory_bytes=6 * GiB), [box], held), Allocation)

    def test_labels_must_all_match(self) -> None:
        """A work asking for labels only lands on an agent carrying all of them."""
        a = agent("a", labels={"zone": "x"})
        b = agent("b", labels={"zone": "y", "disk": "ssd"})
        decision = place_work(ResourceRequest(labels={"zone": "y", "disk": "ssd"}), [a, b], [])
        assert isinstance(decision, Allocation) and decision.agent_id == "b"


class TestPendingReason:
    def test_reason_names_the_request_and_each_agent(self) -> None:
        """The reason says what was asked and what each agent lacks."""
        decision = place_work(ResourceRequest(gpus=2), [agent("laptop"), agent("box", gpus=(0,))], [])
        assert isinstance(decision, Pending)
        assert "2 GPUs" in decision.reason
        assert "laptop: 0 of 0 GPUs free" in decision.reason and "box: 1 of 1 GPUs free" in decision.reason

    def test_describe_empty_request(self) -> None:
        """A request for nothing reads as such."""
        assert describe(ResourceRequest()) == "no particular resources"


class TestPorts:
    def test_a_full_port_range_keeps_the_work_pending_naming_it(self) -> None:
        """An agent whose range's ports are all held by its works takes no more; the reason names the range."""
        ranged = AgentCapacity("a", "a", 8, 32 * GiB, (), {}, ports=(30000, 30001))
        held = [Allocation("a"), Allocation("a", port=30001)]
        decision = place_work(ResourceRequest(), [ranged], held)
        assert isinstance(decision, Pending)
        assert decision.reason == "no agent has a port free (a: every port of its range 30000-30001 held by its works)"
        assert isinstance(place_work(ResourceRequest(), [ranged], held[:1]), Allocation)
        assert isinstance(place_work(ResourceRequest(), [ranged], [Allocation("a", port=8080)] * 3), Allocation), (
            "a port asked for outside the range does not count against it")

    def test_an_asked_port_goes_where_no_work_holds_it(self) -> None:
        """A work asking for port 8080 avoids the agent where another work asked for it."""
        one, two = agent("one"), agent("two")
        decision = place_work(ResourceRequest(), [one, two], [Allocation("one", port=8080)], port=8080)
        assert isinstance(decision, Allocation) and decision.agent_id == "two" and decision.port == 8080
        pending = place_work(ResourceRequest(), [one], [Allocation("one", port=8080)], port=8080)
        assert isinstance(pending, Pending) and "port 8080" in pending.reason
