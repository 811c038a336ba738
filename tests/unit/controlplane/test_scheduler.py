"""Tests for controlplane.scheduler: placing a work on an agent (pure, no I/O)."""

from __future__ import annotations

from controlplane.scheduler import AgentOffer, place_work
from sdk._events import LaunchWork

LAUNCH = LaunchWork(work_name="root.job", attempt=1, app_path="/apps/app.py", vars={})


def offer(agent_id: str, works_placed: int) -> AgentOffer:
    return AgentOffer(agent_id=agent_id, gpu_indices=(), labels={}, works_placed=works_placed)


class TestPlaceWork:
    def test_no_agents_gives_none(self):
        """With no agent connected the work is not placed."""
        assert place_work(LAUNCH, []) is None

    def test_single_agent_is_chosen(self):
        """The only agent gets the work."""
        assert place_work(LAUNCH, [offer("a1", 5)]) == "a1"

    def test_least_busy_agent_is_chosen(self):
        """The agent with the fewest works placed gets the work, whatever the order of offers."""
        offers = [offer("busy", 4), offer("idle", 0), offer("medium", 2)]
        assert place_work(LAUNCH, offers) == "idle"
        assert place_work(LAUNCH, list(reversed(offers))) == "idle"

    def test_ties_are_broken_deterministically(self):
        """Among equally busy agents the choice does not depend on the order of offers."""
        offers = [offer("b", 1), offer("a", 1), offer("c", 3)]
        assert place_work(LAUNCH, offers) == place_work(LAUNCH, list(reversed(offers))) == "a"

    def test_offers_are_not_modified(self):
        """Placement is pure: the offers are left as they were."""
        offers = [offer("a", 1), offer("b", 0)]
        snapshot = list(offers)
        place_work(LAUNCH, offers)
        assert offers == snapshot
