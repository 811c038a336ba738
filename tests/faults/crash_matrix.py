"""The crash matrix: SIGKILL a control plane at random moments, run the same command again, and judge whether the
app resumed exactly (every call run once, none lost, the app finished).

Each trial runs ``apps/ledger.py`` (CRASH_CALLS sequential calls of one work, each execution logged to a file
outside every control plane) with ``lightning-ctl run`` and its local agent, in a folder and HOME of its own, and
kills the control plane as its scenario says:

- ``during_calls``: at a random moment while calls run (after a random number of executions, plus a random part of
  one call).
- ``in_checkpoint``: from inside the control plane (``crash_site/sitecustomize.py``), in the middle of a random
  checkpoint write's transaction, or right after it committed.
- ``reconnect``: during calls, then again at a random moment within the first half second of the resumed control
  plane (agents reconnecting, unacknowledged events and unconfirmed commands being sent again).
- ``twice``: during calls, then again during calls under the resumed control plane.

After each kill the same command runs again (``lightning-ctl run ledger.py``, which resumes). The trial's outcome:
``exact`` (the flow recorded calls 1..N once each, the work executed each exactly once, saw every attribute update
in time, and the app exited 0), ``loss`` (a call the flow counts as done never ran, or never ran at all),
``duplicate`` (a call ran twice), ``hang`` (the app did not end within its deadline) or ``failed`` (it ended
otherwise). Rerun the matrix with ``benchmarks/bench_crash_matrix.py``.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import wait_until
from tests.helpers.fault_cluster import FaultCluster, LocalControlPlane
from tests.helpers.streams import APPS, reported

LEDGER = APPS / "ledger.py"
CRASH_SITE = Path(__file__).resolve().parent / "crash_site"
REPOSITORY = Path(__file__).resolve().parent.parent.parent
SCENARIOS = ("during_calls", "in_checkpoint", "reconnect", "twice")
OUTCOMES = ("exact", "loss", "duplicate", "hang", "failed")
CALLS = 20
STEP_S = 0.03
FINISH_S = 40.0
"""How long the last run may take to finish the app before the trial counts as a hang."""


@dataclass
class TrialResult:
    """How one trial ended."""

    scenario: str
    outcome: str
    detail: str = ""
    kills: int = 0
    """How many control planes were SIGKILLed (a kill the app outran does not count)."""
    seconds: float = 0.0
    output: str = field(default="", repr=False)


class Trial:
    """One app run through its scenario's kills and reruns, in ``root``."""

    def __init__(self, root: Path, scenario: str, rng: random.Random, calls: int = CALLS) -> None:
        self.root = root
        self.scenario = scenario
        self.rng = rng
        self.calls = calls
        self.exec_log = root / "executions.log"
        self.cluster = FaultCluster(root)
        self.control_planes: list[LocalControlPlane] = []
        self.kills = 0

    def env(self, kill_at: str = "") -> dict[str, str]:
        values = {"CRASH_EXEC_LOG": str(self.exec_log), "CRASH_CALLS": str(self.calls), "CRASH_STEP_S": str(STEP_S)}
        if kill_at:
            values["CRASH_KILL_AT"] = kill_at
            values["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CRASH_SITE), str(REPOSITORY),
                                                                 os.environ.get("PYTHONPATH")]))
        return values

    def start(self, kill_at: str = "") -> LocalControlPlane:
        """``lightning-ctl run ledger.py`` (resuming when a previous run did not end), with its local agent."""
        cp = LocalControlPlane(LEDGER, "--port", "0", "--stop-grace", "2", token=self.cluster.token,
                               env=self.cluster.env(self.env(kill_at)), cwd=self.root)
        self.cluster.processes.append(cp)
        self.control_planes.append(cp)
        return cp

    def executions(self) -> list[int]:
        try:
            return [int(line.split()[0]) for line in self.exec_log.read_text().splitlines() if line.strip()]
        except FileNotFoundError:
            return []

    def kill_after_executions(self, cp: LocalControlPlane, count: int) -> None:
        """SIGKILL ``cp`` once ``count`` more calls began (plus a random part of a call), unless it ended first."""
        target = len(self.executions()) + count
        try:
            wait_until(lambda: len(self.executions()) >= target or cp.proc.poll() is not None, FINISH_S,
                       what=f"{count} more executions")
        except AssertionError:
            raise _Stalled(f"no call ran for {FINISH_S:g} s (calls never run: {self.never_ran()})") from None
        time.sleep(self.rng.uniform(0.0, STEP_S * 1.5))
        self.kill(cp)

    def never_ran(self) -> list[int]:
        ran = set(self.executions())
        return [i for i in range(1, self.calls + 1) if i not in ran]

    def kill(self, cp: LocalControlPlane) -> None:
        if cp.proc.poll() is None:
            cp.record_pids()
            cp.proc.send_signal(signal.SIGKILL)
            self.kills += 1
        cp.proc.wait(10)

    def run(self) -> TrialResult:
        started = time.monotonic()
        try:
            last = self._scenario()
            ended = _wait_end(last, FINISH_S)
            result = self._judge(last, ended)
        except _Stalled as exc:
            result = TrialResult(self.scenario, "hang", str(exc))
        except AssertionError as exc:
            result = TrialResult(self.scenario, "failed", f"harness: {exc}")
        finally:
            result_output = "\n".join(f"--- control plane {i}\n{cp.output()[-4000:]}"
                                      for i, cp in enumerate(self.control_planes))
            self.cluster.close()
        result.kills = self.kills
        result.seconds = time.monotonic() - started
        result.output = result_output
        return result

    def _scenario(self) -> LocalControlPlane:
        """Run the scenario's kills; the control plane that should finish the app."""
        early = self.rng.randint(1, self.calls // 2)
        if self.scenario == "in_checkpoint":
            at = self.rng.choice(("inside", "after"))
            cp = self.start(kill_at=f"save={self.rng.randint(1, self.calls + 5)},at={at},"
                                    f"step={self.rng.randint(1, 40)}")
            _wait_end(cp, FINISH_S)  # it kills itself, or finishes the app if the write it waits for never comes
            if cp.proc.returncode == -signal.SIGKILL:
                self.kills += 1
                return self.start()
            return cp
        cp = self.start()
        self.kill_after_executions(cp, early)
        cp = self.start()
        if self.scenario == "reconnect":
            cp.wait_for("control_plane_listening", timeout_s=20)
            time.sleep(self.rng.uniform(0.0, 0.5))
            self.kill(cp)
            cp = self.start()
        elif self.scenario == "twice":
            self.kill_after_executions(cp, self.rng.randint(1, max(1, (self.calls - early) // 2)))
            cp = self.start()
        return cp

    def _judge(self, cp: LocalControlPlane, ended: bool) -> TrialResult:
        runs = len(self.executions())
        counts = Counter(self.executions())
        wanted = list(range(1, self.calls + 1))
        duplicated = sorted(i for i, n in counts.items() if n > 1)
        never_ran = [i for i in wanted if counts[i] == 0]
        if duplicated:
            return TrialResult(self.scenario, "duplicate", f"calls run twice: {duplicated} ({runs} executions)")
        if not ended:
            return TrialResult(self.scenario, "hang", f"no end within {FINISH_S:g} s; calls never run: {never_ran}")
        finals = reported(cp.stdout_lines, "FINAL")
        if never_ran or (finals and finals[-1]["done"] != wanted):
            return TrialResult(self.scenario, "loss", f"calls never run: {never_ran}; flow: {finals[-1:]}")
        if cp.proc.returncode != 0 or not finals:
            return TrialResult(self.scenario, "failed", f"exit {cp.proc.returncode}: {cp.stderr[-600:]}")
        final = finals[-1]
        successes = {int(k): v for k, v in final["successes"].items()}
        if final["executed"] != wanted or final["stale"] or any(successes[i] != 1 for i in wanted):
            return TrialResult(self.scenario, "failed", f"the flow's view differs: {final}")
        return TrialResult(self.scenario, "exact")


class _Stalled(Exception):
    """The app made no progress between kills: a hang."""


def _wait_end(cp: LocalControlPlane, timeout_s: float) -> bool:
    try:
        wait_until(lambda: cp.proc.poll() is not None, timeout_s, interval_s=0.05, what="the app to end")
    except AssertionError:
        return False
    cp.wait(5)
    return True


def run_matrix(root: Path, trials_per_scenario: int, seed: int, scenarios: tuple[str, ...] = SCENARIOS,
               on_result=None) -> list[TrialResult]:  # noqa: ANN001
    """Run ``trials_per_scenario`` trials of each scenario (interleaved), back to back; their results."""
    rng = random.Random(seed)
    results = []
    for index in range(trials_per_scenario):
        for scenario in scenarios:
            folder = root / f"{scenario}-{index}"
            folder.mkdir(parents=True)
            result = Trial(folder, scenario, random.Random(rng.random())).run()
            results.append(result)
            if on_result is not None:
                on_result(result)
    return results


def table(results: list[TrialResult]) -> str:
    """The matrix as a table: scenario, trials, exact resumes, losses, duplicates, hangs, failures, kills."""
    rows = [("scenario", "trials", "exact", "losses", "duplicates", "hangs", "failed", "kills")]
    for scenario in [*dict.fromkeys(r.scenario for r in results), "all"]:
        mine = [r for r in results if scenario in ("all", r.scenario)]
        count = Counter(r.outcome for r in mine)
        rows.append((scenario, str(len(mine)), *(str(count[o]) for o in OUTCOMES), str(sum(r.kills for r in mine))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)
