"""Tests for controlplane.agents.locations.WorkLocations: the placement record, its claims rule, its file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from lightning_ctl.controlplane.agents.locations import WorkLocations
from lightning_ctl.sdk._events import RunningWork


def test_claims_are_believed_only_from_the_agent_placed() -> None:
    """Of the works an agent says it runs, only those placed on it are accepted; the rest are refused."""
    locations = WorkLocations()
    locations.place("root.a", 1, "agent-1", frozenset({"x"}))
    locations.place("root.b", 2, "agent-2", frozenset())
    claims = (RunningWork("root.a", 1, 10), RunningWork("root.b", 2, 11), RunningWork("root.c", 1, 12))
    accepted, refused = locations.split_claims("agent-1", claims)
    assert [w.work_name for w in accepted] == ["root.a"]
    assert [w.work_name for w in refused] == ["root.b", "root.c"]


def test_record_survives_a_restart_and_exits_are_kept(tmp_path: Path) -> None:
    """A new record on the same file knows each placement, its attributes, and which attempts exited."""
    path = tmp_path / "locations.json"
    first = WorkLocations(path)
    first.place("root.a", 1, "agent-1", frozenset({"x", "_url"}))
    first.place("root.a", 2, "agent-2", frozenset({"x"}))
    first.mark_exited("root.a", 1)
    second = WorkLocations(path)
    assert second.get("root.a", 1).exited and second.running_on("root.a", 1) is None
    assert second.running_on("root.a", 2) == "agent-2" and second.get("root.a", 1).attributes == {"x", "_url"}
    assert WorkLocations(path, resume=False).get("root.a", 2) is None


def test_saved_before_the_loop_runs_anything_else(tmp_path: Path) -> None:
    """On the event loop, a placement is written before any callback scheduled after it (write-ahead of the
    launch that a writer task sends next)."""
    path = tmp_path / "locations.json"
    seen: list[bool] = []

    async def main() -> None:
        locations = WorkLocations(path)
        locations.place("root.a", 1, "agent-1", frozenset())
        asyncio.get_running_loop().call_soon(lambda: seen.append(path.exists()))
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    asyncio.run(main())
    assert seen == [True] and json.loads(path.read_text())[0]["agent_id"] == "agent-1"
