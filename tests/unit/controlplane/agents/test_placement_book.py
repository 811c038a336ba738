"""PlacementBook: placements by work, with what each agent's works hold kept current as they come and go."""

from __future__ import annotations

from lightning_ctl.controlplane.agents.placement import AgentCapacity, Allocation, Pending, place_work
from lightning_ctl.controlplane.agents.placement_book import PlacementBook, WorkPlacement
from lightning_ctl.sdk._events import ResourceRequest

BOX = AgentCapacity("box", "box", cpus=4, memory_bytes=2**34, gpu_indices=(0, 1))


class TestHoldings:
    def test_what_placed_works_hold_is_not_offered_again(self) -> None:
        """Placements written to the book count against their agent's CPUs and GPUs at once."""
        book = PlacementBook()
        book["root.a"] = WorkPlacement(1, Allocation("box", cpus=3, gpu_indices=(0,)))
        assert isinstance(place_work(ResourceRequest(cpus=2), [BOX], book.holdings), Pending)
        decision = place_work(ResourceRequest(gpus=1), [BOX], book.holdings)
        assert isinstance(decision, Allocation) and decision.gpu_indices == (1,)

    def test_a_replaced_or_removed_placement_gives_back_what_it_held(self) -> None:
        """A new attempt's placement replaces the old one's holdings; a removed one frees them."""
        book = PlacementBook()
        book["root.a"] = WorkPlacement(1, Allocation("box", cpus=3, gpu_indices=(0,)))
        book["root.a"] = WorkPlacement(2, Allocation("box", cpus=1, gpu_indices=(1,)))
        assert isinstance(place_work(ResourceRequest(cpus=3, gpus=1), [BOX], book.holdings), Allocation)
        del book["root.a"]
        assert place_work(ResourceRequest(cpus=4, gpus=2), [BOX], book.holdings) == Allocation(
            "box", cpus=4, gpu_indices=(0, 1))
        assert book.releases == 2

    def test_placed_on_lists_each_agents_works(self) -> None:
        """Each agent's works, with their attempts, without looking at the other agents' placements."""
        book = PlacementBook()
        book["root.a"] = WorkPlacement(1, Allocation("box"))
        book["root.b"] = WorkPlacement(3, Allocation("other"))
        book["root.c"] = WorkPlacement(2, Allocation("box"))
        assert book.placed_on("box") == (("root.a", 1), ("root.c", 2))
        del book["root.a"]
        book["root.b"] = WorkPlacement(4, Allocation("box"))
        assert book.placed_on("box") == (("root.c", 2), ("root.b", 4)) and book.placed_on("other") == ()
        assert dict(book) == {"root.c": WorkPlacement(2, Allocation("box")), "root.b": WorkPlacement(4, Allocation("box"))}
