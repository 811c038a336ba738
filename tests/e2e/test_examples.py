"""End-to-end: every app in ``examples/`` runs with the real CLI and prints every line it promises (issue 8,
point 8), with the exit status its docstring states."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e import PYTHON

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT_S = 60.0
NO_BYTECODE = {"PYTHONDONTWRITEBYTECODE": "1"}
"""The examples folder gets no __pycache__."""

PROMISES: dict[str, tuple[int, list[str]]] = {
    "caching.py": (0, [r"^cached ran 1x, uncached ran 3x \(num_successes=3\), result=49$"]),
    "counter.py": (0, [r"^the flow sees count=0 \((started|pending)\)$", r"^the flow sees count=10 \(running\)$",
                       r"^counted to 10$"]),
    "failing_work.py": (1, [r"^root\.tolerated \| ValueError: negative value: -1$",
                            r"^tolerated failure \(user_exception\); the app goes on$",
                            r'^  File ".*failing_work\.py", line \d+, in check$', r"^ValueError: negative value: -2$"]),
    "multi_node.py": (0, [r"^root\.gang\.ws\.0 \| node 0 of 2 meets at 127\.0\.0\.1 \(WORLD_SIZE=2\)$",
                          r"^root\.gang\.ws\.1 \| node 1 of 2 meets at 127\.0\.0\.1 \(WORLD_SIZE=2\)$",
                          r"^the gang's ranks add up to 1$"]),
    "nested_flows.py": (0, [r"^root\.stage\.echo \| root\.stage\.echo says hello from a nested flow$",
                            r"^root\.by_name\.alpha \| root\.by_name\.alpha says hello from a Dict$",
                            r"^root\.pool\.0 \| root\.pool\.0 says hello from a List item added at run time$",
                            r"^works: \['root\.stage\.echo', 'root\.by_name\.alpha', 'root\.pool\.0'\]$"]),
    "parallel_vs_blocking.py": (0, [r"^parallel works overlapped for 0\.[1-9]\d?s$",
                                    r"^the blocking work took 0\.[3-9]\ds; the flow waited for it$"]),
}


def test_every_example_is_covered() -> None:
    """A new example gets its promises listed here (inline.py runs with plain python, below)."""
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted([*PROMISES, "inline.py"])


@pytest.mark.e2e
@pytest.mark.parametrize("example", sorted(PROMISES))
def test_example_prints_what_it_promises(launch, example: str) -> None:
    """``lightning-ctl run examples/<example>`` exits as documented and prints each promised line once."""
    exit_code, promised = PROMISES[example]
    run = launch(str(EXAMPLES / example), "--stop-grace", "2", env=NO_BYTECODE).wait(TIMEOUT_S)
    output = f"exit {run.exit_code}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    assert run.exit_code == exit_code, output
    lines = [*run.stdout.splitlines(), *run.stderr.splitlines()]
    for pattern in promised:
        found = [line for line in lines if re.search(pattern, line)]
        assert len(found) == 1, f"{pattern!r} printed {len(found)} times\n{output}"


@pytest.mark.e2e
def test_inline_example_runs_with_plain_python() -> None:
    """``python examples/inline.py`` (no app, no control plane) prints the total its comment promises."""
    done = subprocess.run([PYTHON, str(EXAMPLES / "inline.py")], capture_output=True, text=True, timeout=TIMEOUT_S,
                          env={**NO_BYTECODE, "PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["total=5 successes=2"]
