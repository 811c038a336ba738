"""The crash matrix: SIGKILL the control plane at random moments and rerun the same command; print the table.

    .venv/bin/python benchmarks/bench_crash_matrix.py [--trials 25] [--seed 1] [--only during_calls,twice]

``--trials`` per scenario (4 scenarios: 25 gives the 100 trials of issue 9), run back to back; see
``tests/faults/crash_matrix.py`` for the scenarios and how each trial is judged. Prints one line per trial that was
not exact (with the control planes' last output under ``--verbose``), then the table and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for tests.faults

from tests.faults.crash_matrix import SCENARIOS, run_matrix, table  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=25, help="trials per scenario")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios, comma-separated")
    parser.add_argument("--verbose", action="store_true", help="show the output of trials that were not exact")
    args = parser.parse_args()
    scenarios = tuple(s for s in args.only.split(",") if s)
    print(f"crash matrix: {args.trials} trials x {len(scenarios)} scenarios, seed {args.seed}, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)

    def show(result) -> None:  # noqa: ANN001
        mark = "." if result.outcome == "exact" else f"\n{result.scenario}: {result.outcome}: {result.detail}\n"
        print(mark, end="", flush=True)
        if args.verbose and result.outcome != "exact":
            print(result.output[-6000:], flush=True)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lightning-ctl-crash-") as root:
        results = run_matrix(Path(root), args.trials, args.seed, scenarios, on_result=show)
    print()
    print(table(results))
    seconds = [r.seconds for r in results]
    print(f"\n{len(results)} trials in {time.monotonic() - started:.0f} s (median {statistics.median(seconds):.1f} s "
          f"per trial); load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
