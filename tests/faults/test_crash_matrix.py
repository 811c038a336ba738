"""Exactly-once across control-plane crashes at any instant: the crash matrix (``crash_matrix.py``), SIGKILLing the
control plane during calls, inside and right after checkpoint writes, during reconnections, and twice in a row;
after each kill the same command runs again and every trial must end exact (each call run once, none lost, the app
finished).

The default suite runs CRASH_TRIALS trials per scenario (2: 8 trials, about half a minute); the 100 trials of
issue 9 are ``LIGHTNING_CRASH_TRIALS=25 pytest tests/faults/test_crash_matrix.py`` or, printing the table,
``benchmarks/bench_crash_matrix.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults.crash_matrix import SCENARIOS, run_matrix, table

CRASH_TRIALS = int(os.environ.get("LIGHTNING_CRASH_TRIALS", "2"))
SEED = int(os.environ.get("LIGHTNING_CRASH_SEED", "7"))


@pytest.mark.fault
@pytest.mark.timeout(60 + 60 * CRASH_TRIALS * len(SCENARIOS))
def test_every_crash_trial_resumes_exactly(tmp_path: Path) -> None:
    """Each trial: the flow's record of calls equals the work's record of executions, and the app finishes."""
    results = run_matrix(tmp_path, CRASH_TRIALS, SEED)
    print(table(results))
    bad = [r for r in results if r.outcome != "exact"]
    assert not bad, "\n\n".join(f"{r.scenario}: {r.outcome}: {r.detail}\n{r.output[-5000:]}" for r in bad) + \
        "\n" + table(results)
    assert sum(r.kills for r in results) >= len(results), f"too few kills to mean anything\n{table(results)}"
