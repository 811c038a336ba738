"""Agents on demand from Slurm, timed on a real one-host Slurm cluster (``tests/helpers/slurm.py``).

    .venv/bin/python benchmarks/bench_providers.py [--repeat 5] [--works 100] [--minutes 2]

1. Timeline (``--repeat`` runs): a 1-GPU work is pending (the request decided) -> its Slurm job is submitted
   -> the agent Slurm started joins -> the work runs (its first line). Read from the control plane's JSON logs and
   the work's own clock.
2. Idle release: with ``--agent-idle-timeout 2``, from the work's process exit (the flow stopped it) to the release
   decision, and to the job leaving Slurm's running states.
3. No polling storm: ``--works`` pending works of 2 GPUs each (the cluster has 4 GPUs), ``--max-agents`` as many;
   every Slurm command the control plane runs is counted through logging shims on PATH, per minute.

Needs Slurm installed and root (as the tests). Prints medians (min-max) and the load average. Every process is
killed and the cluster's folder removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.dont_write_bytecode = True
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.helpers.slurm import SlurmCluster, skip_reason  # noqa: E402

LIGHTNING_CTL = str(Path(sys.executable).parent / "lightning-ctl")
APP = REPO / "tests" / "e2e" / "apps_providers" / "on_demand.py"
SHIM = """#!/bin/sh
echo "$(date +%s.%N) {name}" >> {log}
exec {real} "$@"
"""


def timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def events(stderr: str) -> list[dict]:
    found = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                found.append(json.loads(line))
            except ValueError:
                pass
    return found


def first(found: list[dict], name: str) -> float:
    return next(timestamp(e["timestamp"]) for e in found if e.get("event") == name)


def run_app(cluster: SlurmCluster, home: Path, args: list[str], knobs: dict[str, str], until: str,
            timeout_s: float, extra_env: dict[str, str] | None = None) -> tuple[str, str]:
    """Run the on-demand app until a line containing ``until`` shows on stdout (then SIGTERM it)."""
    env = {**os.environ, **cluster.env, "HOME": str(home), **(extra_env or {}),
           **{f"ON_DEMAND_{k.upper()}": v for k, v in knobs.items()}}
    process = subprocess.Popen([LIGHTNING_CTL, "run", str(APP), "--provider", "slurm", "--log-format", "json",
                                *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.terminate()
        out, err = process.communicate(timeout=60)
    if until not in out and until not in err:
        raise SystemExit(f"the app never showed {until!r}:\n{out}\n{err[-3000:]}")
    return out, err


def timeline(cluster: SlurmCluster, root: Path, repeat: int) -> None:
    steps: dict[str, list[float]] = {"pending -> submitted": [], "submitted -> joined": [],
                                     "joined -> work running": [], "pending -> work running": []}
    # "pending": the request's decision (agent_requested), made in the same loop turn as the registry found no
    # agent for the launch
    for index in range(repeat):
        out, err = run_app(cluster, root / f"timeline-{index}", ["--provider-option", "poll-interval=1"],
                           {"works": "1", "gpus": "1", "stop": "1"}, "STARTED", 120)
        found = events(err)
        pending = first(found, "agent_requested")
        started = json.loads(next(line for line in out.splitlines() if "STARTED" in line).split("STARTED ", 1)[1])
        submitted, joined = first(found, "slurm_job_submitted"), first(found, "agent_connected")
        steps["pending -> submitted"].append(submitted - pending)
        steps["submitted -> joined"].append(joined - submitted)
        steps["joined -> work running"].append(started["time"] - joined)
        steps["pending -> work running"].append(started["time"] - pending)
        wait_empty(cluster)
    print(f"1. timeline, {repeat} runs, median (min-max) seconds:")
    for name, values in steps.items():
        print(f"   {name:28s} {statistics.median(values):6.3f} ({min(values):.3f}-{max(values):.3f})")


def idle_release(cluster: SlurmCluster, root: Path, repeat: int) -> None:
    decision, ended = [], []
    for index in range(repeat):
        home = root / f"idle-{index}"
        env = {**os.environ, **cluster.env, "HOME": str(home), "ON_DEMAND_STOP": "works"}
        process = subprocess.Popen([LIGHTNING_CTL, "run", str(APP), "--provider", "slurm", "--log-format", "json",
                                    "--agent-idle-timeout", "2", "--provider-option", "poll-interval=1"],
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        deadline = time.monotonic() + 120
        job_gone_at = None
        job_id = None
        earlier = set(cluster.jobs())
        while time.monotonic() < deadline:
            time.sleep(0.05)
            jobs = cluster.jobs()
            ours = [i for i, j in jobs.items() if j[2].startswith("lightning-agent-") and i not in earlier]
            if ours:
                job_id = ours[-1]
            if job_id and jobs[job_id][0] in ("CANCELLED", "COMPLETED"):
                job_gone_at = time.time()
                break
        subprocess.run([LIGHTNING_CTL, "stop"], env=env, capture_output=True, timeout=60)
        _, err = process.communicate(timeout=60)
        found = events(err)
        if job_gone_at is None:
            raise SystemExit(f"the idle agent was not released:\n{err[-3000:]}")
        release = next(e for e in found if e.get("event") == "agent_request_released")
        # "idle for N s": the planner's own measure of how long the agent had been idle when it decided
        decision.append(float(release["reason"].split()[2].rstrip("s")) - 2.0)
        ended.append(job_gone_at - timestamp(release["timestamp"]))
        wait_empty(cluster)
    print(f"2. idle release (--agent-idle-timeout 2), {repeat} runs, median (min-max) seconds:")
    print(f"   {'decision late by':28s} {statistics.median(decision):6.3f} ({min(decision):.3f}-{max(decision):.3f})"
          "   (past the 2 s timeout, as the release's idle time says)")
    print(f"   {'release -> job ended':28s} {statistics.median(ended):6.3f} ({min(ended):.3f}-{max(ended):.3f})")


def command_rate(cluster: SlurmCluster, root: Path, works: int, minutes: float) -> None:
    shims, log = root / "shims", root / "slurm-commands.log"
    shims.mkdir()
    for name in ("sbatch", "squeue", "scancel"):
        path = shims / name
        path.write_text(SHIM.format(name=name, log=log, real=shutil.which(name)))
        path.chmod(0o755)
    home = root / "rate"
    env = {"PATH": f"{shims}:{os.environ['PATH']}"}
    started = time.time()
    run_app(cluster, home, ["--max-agents", str(works)], {"works": str(works), "gpus": "2", "hold_s": "3600",
                                                          "stop": "0"}, "control_plane", minutes * 60, env)
    counts: dict[tuple[int, str], int] = {}
    for line in log.read_text().splitlines():
        at, name = line.split()
        minute = int((float(at) - started) // 60)
        counts[(minute, name)] = counts.get((minute, name), 0) + 1
    print(f"3. Slurm commands with {works} pending works of 2 GPUs each on 4 GPUs (--max-agents {works}, "
          f"default poll interval), per minute:")
    for minute in range(int(minutes + 0.999)):
        row = {name: counts.get((minute, name), 0) for name in ("sbatch", "squeue", "scancel")}
        print(f"   minute {minute + 1}: " + ", ".join(f"{n} {c}" for n, c in row.items())
              + f"  (total {sum(row.values())})")
    wait_empty(cluster)


def wait_empty(cluster: SlurmCluster) -> None:
    active = cluster.jobs(active_only=True)
    if active:
        cluster.run("scancel", *active, check=False)
    deadline = time.monotonic() + 60
    while cluster.jobs(active_only=True) and time.monotonic() < deadline:
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--works", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=2.0)
    options = parser.parse_args()
    reason = skip_reason()
    if reason:
        raise SystemExit(reason)
    root = Path(tempfile.mkdtemp(prefix="lcb-", dir="/tmp"))
    cluster = SlurmCluster(root / "c")
    try:
        cluster.start()
        timeline(cluster, root, options.repeat)
        idle_release(cluster, root, options.repeat)
        command_rate(cluster, root, options.works, options.minutes)
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
