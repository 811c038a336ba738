"""The fault suites' app, ``tests/faults/apps/streams.py``: its knobs, and checks of what it reported.

Each of its works appends 1, 2, 3... to a list attribute and prints ``STEP i pid``; the flow checks every list it
sees is [1..k] and never shrinks, and prints ``FINAL <json>`` at the end. Nothing lost and nothing applied twice
shows as complete lists and each ``STEP`` line shown once.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

APPS = Path(__file__).resolve().parent.parent / "faults" / "apps"
STREAMS = APPS / "streams.py"
FAST = ("--heartbeat-interval", "0.3", "--agent-lost-grace", "2")
"""Short liveness timers (the cluster adds ``--stop-grace 2``)."""
AGENT_ARGS = ("--gpus", "none", "--cpus", "16")
"""Plain works ask for 1 CPU each: agents offer plenty."""
MAX_REPEATS_PER_CRASH = 20
"""How many ``STEP`` lines one control-plane crash may show again (see :func:`assert_lines_across_crashes`)."""

_STEP = re.compile(r"^(root\.\w+) \| STEP (\d+) (\d+)$")
_PID = re.compile(r"^(root\.\w+) \| PID (\d+)$")


def knobs(steps: int, works: int = 3, step_s: float = 0.02, restart: str = "never", calls: int = 0,
          stop_file: Path | None = None) -> tuple[str, ...]:
    """``--env`` arguments for the app (with ``stop_file``, streams go on past ``steps`` until it exists)."""
    values: dict[str, object] = {"FAULT_STEPS": steps, "FAULT_WORKS": works, "FAULT_STEP_S": step_s,
                                 "FAULT_RESTART": restart, "FAULT_CALLS": calls}
    if stop_file is not None:
        values["FAULT_STOP_FILE"] = stop_file
    return tuple(arg for name, value in values.items() for arg in ("--env", f"{name}={value}"))


def reported(lines: list[str], tag: str) -> list[Any]:
    """The JSON values of every line ``<tag> <json>`` in ``lines``."""
    return [json.loads(line[len(tag) + 1:]) for line in list(lines) if line.startswith(tag + " ")]


def console_pids(lines: list[str]) -> dict[str, int]:
    """{work name: pid} from the works' ``PID <pid>`` console lines (the last one per work)."""
    pids = {}
    for line in list(lines):
        if match := _PID.match(line):
            pids[match.group(1)] = int(match.group(2))
    return pids


def step_lines(lines: list[str]) -> dict[str, list[int]]:
    """{work name: the step numbers of its ``STEP i pid`` console lines, in the order they were shown}."""
    steps: dict[str, list[int]] = {}
    for line in lines:
        if match := _STEP.match(line):
            steps.setdefault(match.group(1), []).append(int(match.group(2)))
    return steps


def final_lengths(final: dict[str, Any]) -> dict[str, int]:
    """{work name: how many steps it made} from a FINAL report."""
    return {name: len(items) for name, items in final["items"].items()}


def assert_streams_complete(final: dict[str, Any], min_steps: int, works: int, output: str = "") -> None:
    """Every work's final list as the flow saw it is exactly [1..n] with n >= ``min_steps``, and the flow never saw
    one that was not [1..k] or that shrank."""
    assert len(final["items"]) == works, final
    for name, items in final["items"].items():
        n = max(items, default=0)
        assert items == list(range(1, n + 1)) and n >= min_steps, (
            f"{name}: the flow's list is not [1..n] (n >= {min_steps}): len {len(items)}, max {n}, "
            f"missing {sorted(set(range(1, n + 1)) - set(items))[:10]}, "
            f"duplicates {sorted({i for i in items if items.count(i) > 1})[:10]}\n{output[-4000:]}")
    assert final["violations"] == [], f"the flow saw lists that were not [1..k] or shrank: {final['violations']}"


def assert_lines_once(lines: list[str], steps: dict[str, int], context: str = "") -> None:
    """Each work's ``STEP i`` console line was shown exactly once for every i in 1..steps[work] (``context``: more
    to show when it was not)."""
    seen = step_lines(lines)
    for work, n in steps.items():
        shown = seen.get(work, [])
        missing = sorted(set(range(1, n + 1)) - set(shown))
        duplicated = sorted({i for i in shown if shown.count(i) > 1})
        assert not missing and not duplicated and len(shown) == n, (
            f"{work}: STEP lines shown {len(shown)} times for {n} steps; missing {missing[:20]} "
            f"(of {len(missing)}), shown twice {duplicated[:20]} (of {len(duplicated)})\n{context}")


def assert_lines_across_crashes(per_process: list[list[str]], steps: dict[str, int], context: str = "") -> None:
    """Across control planes that crashed: every ``STEP i`` line shown (none lost), none twice by the same control
    plane, and repeats only of lines the dead one wrote just before it died (at most MAX_REPEATS_PER_CRASH each).

    A line written by a control plane that is then SIGKILLed before its acknowledgement reaches the agent is sent
    again to the next one: console output is at-least-once across a crash (application state is exactly-once).
    """
    for lines in per_process:
        for work, shown in step_lines(lines).items():
            twice = sorted({i for i in shown if shown.count(i) > 1})
            assert not twice, f"{work}: one control plane showed STEP lines {twice[:20]} twice\n{context}"
    everything = step_lines([line for lines in per_process for line in lines])
    crashes = len(per_process) - 1
    for work, n in steps.items():
        shown = everything.get(work, [])
        missing = sorted(set(range(1, n + 1)) - set(shown))
        repeats = len(shown) - len(set(shown))
        assert not missing, f"{work}: STEP lines {missing[:20]} (of {len(missing)}) were never shown\n{context}"
        assert repeats <= MAX_REPEATS_PER_CRASH * crashes, (
            f"{work}: {repeats} STEP lines shown again after {crashes} crashes\n{context}")
