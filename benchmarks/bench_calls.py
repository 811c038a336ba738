"""Sequential calls beside Ray, and how soon a flow sees a work's progress. Medians of ``--repeat`` runs.

    .venv/bin/python benchmarks/bench_calls.py [--repeat 3] [--calls 2000] [--only calls,ray,progress]
    .venv/bin/python benchmarks/bench_calls.py --ray-python .venv-ray/bin/python   # Ray's own venv (default)
    .venv/bin/python benchmarks/bench_calls.py --before /path/to/other/venv/bin     # also another build, alternated

calls     a non-parallel ``cache_calls=False`` work called again as soon as the flow sees it done, through the
          real ``lightning-ctl run`` (local agent, work process): calls/s, and per call the round trip from the
          flow's call to the flow seeing it succeeded (p50, p99). The first call (process start) is left out.
ray       the same with Ray 2.x: an actor's method called and awaited (``ray.get``) again and again, timed in the
          driver. Ray lives in its own venv (``python3 -m venv .venv-ray && .venv-ray/bin/pip install 'ray>=2,<3'``);
          lightning-ctl does not depend on it. Skipped, saying so, when that Python has no Ray.
progress  a work assigns an attribute 2,000 times with 1 ms sleeps (its value: the time of the assignment); the
          flow records, for each value it sees, how long ago it was assigned (lag p50, p99; values it never saw are
          counted apart), and the work's loop time is compared with the same loop assigning a private attribute
          (which is not reported): the slow-down from reporting.

The runs alternate (ours, Ray, ours, ...) so that the machine's load falls on both alike; the load average is
printed with each figure. Process trees are killed at the end of each run (bench_core's harness).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_core  # noqa: E402
from bench_core import COUNTER_AND_ROOT, AppRun, BenchError, Session, launched  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RAY_PYTHON = REPO / ".venv-ray" / "bin" / "python"

APP_CALLS = '''
import json, time
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

N = {calls}
_B = {{"dispatched": {{}}, "seen": {{}}, "last": -1}}

''' + COUNTER_AND_ROOT + '''
    def run(self):
        count = self.counter.count
        now = time.perf_counter()
        if count not in _B["seen"]:
            _B["seen"][count] = now
        if count >= N:
            rtt = [_B["seen"][k] - _B["dispatched"][k] for k in range(2, N + 1)]
            seconds = _B["seen"][N] - _B["seen"][1]
            print("BENCH_RESULT " + json.dumps({{"rate": (N - 1) / seconds, "rtt_ms": [x * 1000 for x in rtt]}}),
                  flush=True)
            self.stop("benchmark done")
            return
        if count + 1 not in _B["dispatched"]:
            _B["dispatched"][count + 1] = time.perf_counter()
        self.counter.run()


app = LightningApp(Root())
'''

RAY_SCRIPT = '''
import json, sys, time
import ray

N = int(sys.argv[1])
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)


@ray.remote
class Counter:
    def __init__(self):
        self.count = 0

    def run(self):
        self.count += 1
        return self.count


counter = Counter.remote()
ray.get(counter.run.remote())  # the actor's process start, left out as ours is
rtt = []
started = time.perf_counter()
for _ in range(N - 1):
    t0 = time.perf_counter()
    ray.get(counter.run.remote())
    rtt.append((time.perf_counter() - t0) * 1000)
seconds = time.perf_counter() - started
print("BENCH_RESULT " + json.dumps({"rate": (N - 1) / seconds, "rtt_ms": rtt, "version": ray.__version__}), flush=True)
ray.shutdown()
'''

APP_PROGRESS = '''
import json, time
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

ASSIGNMENTS = {assignments}
_B = {{"lags": [], "last": None, "phase": 0}}


class Reporter(LightningWork):
    def __init__(self):
        super().__init__(cache_calls=False)
        self.t = 0.0
        self.loop_s = 0.0
        self._t = 0.0

    def run(self, report):
        started = time.perf_counter()
        for _ in range(ASSIGNMENTS):
            if report:
                self.t = time.monotonic()
            else:
                self._t = time.monotonic()
            time.sleep(0.001)
        self.loop_s = time.perf_counter() - started


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Reporter()
        self.quiet_s = 0.0

    def run(self):
        t = self.w.t
        if t and t != _B["last"]:
            _B["lags"].append((time.monotonic() - t) * 1000)
            _B["last"] = t
        if _B["phase"] == 0:
            _B["phase"] = 1
            self.w.run(False)  # the same loop, reporting nothing
        elif _B["phase"] == 1 and self.w.has_succeeded:
            self.quiet_s = self.w.loop_s
            _B["phase"] = 2
            self.w.run(True)
        elif _B["phase"] == 2 and self.w.has_succeeded:
            print("BENCH_RESULT " + json.dumps({{"lags_ms": _B["lags"], "loud_s": self.w.loop_s,
                                                "quiet_s": self.quiet_s}}), flush=True)
            _B["phase"] = 3
            self.stop("benchmark done")


app = LightningApp(Root())
'''


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_app(session: Session, name: str, source: str, timeout_s: float) -> dict[str, Any]:
    app = session.write_app(name, source)
    with launched(AppRun(session, app)) as run:
        code = run.wait_exit(timeout_s)
        if code != 0:
            raise BenchError(f"lightning-ctl exited with {code}{run._tail()}")
        return run.result()


def ours_calls(session: Session, args: argparse.Namespace) -> dict[str, float]:
    res = run_app(session, "calls", APP_CALLS.format(calls=args.calls), args.timeout)
    return {"rate": res["rate"], "p50_ms": pct(res["rtt_ms"], 0.5), "p99_ms": pct(res["rtt_ms"], 0.99)}


def ray_calls(args: argparse.Namespace) -> dict[str, float] | None:
    python = Path(args.ray_python)
    if not python.exists():
        return None
    proc = subprocess.run([str(python), "-c", RAY_SCRIPT, str(args.calls)], capture_output=True, text=True, check=False,
                          timeout=args.timeout, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            res = json.loads(line.split(" ", 1)[1])
            return {"rate": res["rate"], "p50_ms": pct(res["rtt_ms"], 0.5), "p99_ms": pct(res["rtt_ms"], 0.99),
                    "version": res["version"]}
    raise BenchError(f"Ray printed no result (exit {proc.returncode}): {proc.stderr[-2000:]}")


def progress(session: Session, args: argparse.Namespace) -> dict[str, float]:
    res = run_app(session, "progress", APP_PROGRESS.format(assignments=args.assignments), args.timeout)
    lags = res["lags_ms"]
    return {"lag_p50_ms": pct(lags, 0.5), "lag_p99_ms": pct(lags, 0.99), "seen": len(lags),
            "slowdown_pct": 100 * (res["loud_s"] / res["quiet_s"] - 1)}


def measure(results: dict[str, list[dict[str, float]]], figure: str, run: Callable[[], dict[str, float]],
            before: str | None, before_first: bool = False) -> None:
    """One run of ``figure`` with this install and (when given) one with the ``before`` lightning-ctl, in the
    order asked (alternated across repeats, so that neither always follows the other's aftermath)."""
    if not before_first:
        results[figure].append(run())
    if before:
        ours, bench_core.LIGHTNING_CTL = bench_core.LIGHTNING_CTL, before
        try:
            results[f"{figure}_before"].append(run())
        finally:
            bench_core.LIGHTNING_CTL = ours
    if before_first:
        results[figure].append(run())


def summary(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = [k for k in runs[0] if isinstance(runs[0][k], (int, float))]
    return {k: statistics.median(r[k] for r in runs) for k in keys}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--assignments", type=int, default=2000)
    parser.add_argument("--only", default="calls,ray,progress")
    parser.add_argument("--ray-python", default=str(DEFAULT_RAY_PYTHON))
    parser.add_argument("--before", default=None, metavar="BIN_DIR",
                        help="the bin folder of another lightning-ctl install, measured alternately ('before')")
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    session = Session("warm")
    results: dict[str, list[dict[str, float]]] = {"calls": [], "calls_before": [], "ray": [], "progress": [],
                                                  "progress_before": []}
    before = str(Path(args.before) / "lightning-ctl") if args.before else None
    loads: list[str] = []
    ray_missing = False
    try:
        if "calls" in only or "progress" in only:
            run_app(session, "warm-up", APP_CALLS.format(calls=20), args.timeout)  # fills the bytecode cache
        for i in range(args.repeat):
            loads.append(load())
            if "calls" in only:
                measure(results, "calls", lambda: ours_calls(session, args), before, before_first=i % 2 == 1)
            if "progress" in only:
                measure(results, "progress", lambda: progress(session, args), before, before_first=i % 2 == 1)
            if "ray" in only and not ray_missing:  # last: Ray's processes take a while to go after its run
                ray = ray_calls(args)
                ray_missing = ray is None
                if ray is not None:
                    results["ray"].append(ray)
            if not args.json:
                print(f"run {i + 1}/{args.repeat} (load average {loads[-1]}): "
                      + "; ".join(f"{k}: " + ", ".join(f"{n}={v:.3f}" for n, v in r[-1].items()
                                                       if isinstance(v, float)) for k, r in results.items() if r),
                      flush=True)
    finally:
        session.close()
    out: dict[str, Any] = {k: summary(v) for k, v in results.items() if v}
    out["load_averages"] = loads
    out["runs"] = args.repeat
    if ray_missing:
        out["ray"] = f"not measured: no Ray at {args.ray_python} (see the module docstring)"
    elif results["ray"]:
        out["ray_version"] = results["ray"][0]["version"]
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
