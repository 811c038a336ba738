"""Placement: which agent runs a work. Pure: offers in, a decision out; no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from sdk._events import LaunchWork


@dataclass(frozen=True, slots=True)
class AgentOffer:
    """What one agent offers right now."""

    agent_id: str
    gpu_indices: tuple[int, ...]
    labels: dict[str, str]
    works_placed: int


def place_work(launch: LaunchWork, offers: list[AgentOffer]) -> str | None:
    """The agent to run ``launch`` on (the least busy one), or None when no agent is connected."""
    if not offers:
        return None
    return min(offers, key=lambda offer: (offer.works_placed, offer.agent_id)).agent_id
