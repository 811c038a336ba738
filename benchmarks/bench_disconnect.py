"""How long the control plane takes to declare a frozen agent gone.

    .venv/bin/python benchmarks/bench_disconnect.py [--repeat 5] [--heartbeat-interval 2] [--keepalive [N]]

A generated app (in a temporary folder) has one parallel work that runs once and then idles in its process. The
script starts ``lightning-ctl run APP --no-local-agent --heartbeat-interval S --log-level info`` and one
``lightning-agent`` (the real CLIs, each in its own session). Each round: wait until the agent is connected,
SIGSTOP the agent process (its work process keeps running), and time until the control plane logs
``agent_disconnected``: from the SIGSTOP to the ISO timestamp of that log line ("logged"), and to when this script
read the line ("read"). Then SIGCONT, and wait until the agent is connected again before the next round. The rounds
share one control plane and agent; the moment of the SIGSTOP falls anywhere in the heartbeat period.

``--keepalive N`` also runs N rounds with heartbeats effectively off (``--heartbeat-interval 3600``), so that only
gRPC keepalive (server pings every 10 s, 5 s timeout) can notice the frozen agent.

Target: the control plane notices a frozen agent within 10 s with the default heartbeat interval (2 s: it drops an
agent silent for 3 intervals, checking every half interval, so 6-7 s is expected). Exit status 0 when every
heartbeat round met the target, 1 otherwise.

Every process started is killed at the end (SIGCONT first), and the temporary folder is removed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for tests.helpers

from tests.helpers import wait_until  # noqa: E402
from tests.helpers.agents import AgentProcess, Cluster, ControlPlane  # noqa: E402

TARGET_S = 10.0
DETECTION_TIMEOUT_S = 60.0

APP = textwrap.dedent('''
    """One parallel work that runs once, then idles in its process; the flow never stops by itself."""

    from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


    class Idle(LightningWork):
        def __init__(self):
            super().__init__(parallel=True)

        def run(self):
            print("idle work ran", flush=True)


    class Root(LightningFlow):
        def __init__(self):
            super().__init__()
            self.idle = Idle()

        def run(self):
            self.idle.run()


    app = LightningApp(Root())
''')


@dataclass
class Round:
    logged_s: float
    """SIGSTOP to the timestamp of the agent_disconnected line."""
    read_s: float
    """SIGSTOP to when this script saw that line."""
    reason: str


def _timestamp(line: str) -> float:
    """Epoch seconds of a console log line's leading ISO timestamp (``2026-01-01T00:00:00.000000Z ...``)."""
    return datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()


def _reason(line: str) -> str:
    return line.partition("reason=")[2].strip().strip("'\"") or "?"


def measure(root: Path, heartbeat_s: float, rounds: int) -> list[Round | None]:
    """Run ``rounds`` SIGSTOP rounds against one control plane and agent; None for a round never detected."""
    app = root / f"app-hb{heartbeat_s:g}" / "idle_app.py"
    app.parent.mkdir(parents=True)
    app.write_text(APP)
    cluster = Cluster(root / f"run-hb{heartbeat_s:g}")
    cluster.root.mkdir()
    results: list[Round | None] = []
    agent: AgentProcess | None = None
    try:
        cp: ControlPlane = cluster.control_plane(app, "--heartbeat-interval", f"{heartbeat_s:g}", stop_grace=2)
        agent = cluster.agent("frozen", "--gpus", "none", "--cpus", "4")
        agent.wait_for("work_process_spawned", timeout_s=30)
        for i in range(rounds):
            wait_until(lambda i=i: len(cp.lines_with("agent_connected")) >= i + 1, 30, what="the agent to (re)connect")
            time.sleep(0.2)  # let the reconnected session settle (its first heartbeat is one interval away anyway)
            before = len(cp.lines_with("agent_disconnected"))
            stopped_wall, stopped_mono = time.time(), time.monotonic()
            os.kill(agent.pid, signal.SIGSTOP)
            try:
                wait_until(lambda before=before: len(cp.lines_with("agent_disconnected")) > before, DETECTION_TIMEOUT_S,
                           interval_s=0.01, what="agent_disconnected")
                read_s = time.monotonic() - stopped_mono
                line = cp.lines_with("agent_disconnected")[before]
                results.append(Round(_timestamp(line) - stopped_wall, read_s, _reason(line)))
            except AssertionError:
                results.append(None)
            finally:
                os.kill(agent.pid, signal.SIGCONT)
            shown = results[-1]
            print(f"  round {i + 1}: " + (f"{shown.logged_s:5.2f} s logged, {shown.read_s:5.2f} s read   "
                                          f"reason: {shown.reason}" if shown else
                                          f"not detected within {DETECTION_TIMEOUT_S:g} s"), flush=True)
    finally:
        if agent is not None and agent.proc.poll() is None:
            try:
                os.kill(agent.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        cluster.close()
    return results


def summarize(title: str, results: list[Round | None], target_s: float | None) -> bool:
    """Print median/min/max of the detected rounds; whether every round met ``target_s``."""
    detected = [r.logged_s for r in results if r is not None]
    missed = len(results) - len(detected)
    if not detected:
        print(f"{title}: never detected in {len(results)} rounds")
        return False
    line = (f"{title}: median {statistics.median(detected):.2f} s, min {min(detected):.2f} s, "
            f"max {max(detected):.2f} s over {len(detected)} rounds")
    if missed:
        line += f" ({missed} not detected within {DETECTION_TIMEOUT_S:g} s)"
    ok = missed == 0 and (target_s is None or max(detected) <= target_s)
    if target_s is not None:
        line += f"   target <= {target_s:g} s: {'met' if ok else 'MISSED'}"
    print(line, flush=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="SIGSTOP rounds with heartbeats (default 5)")
    parser.add_argument("--heartbeat-interval", type=float, default=2.0, help="lightning-ctl's (default 2)")
    parser.add_argument("--keepalive", type=int, nargs="?", const=3, default=0, metavar="N",
                        help="also N rounds (default 3) with heartbeats off: gRPC keepalive alone")
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"bench_disconnect: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    root = Path(tempfile.mkdtemp(prefix="bench-disconnect-"))
    try:
        hb = args.heartbeat_interval
        print(f"heartbeats every {hb:g} s (an agent silent for {3 * hb:g} s is dropped), SIGSTOP x {args.repeat}:")
        ok = summarize(f"heartbeat {hb:g} s", measure(root, hb, args.repeat), TARGET_S)
        if args.keepalive:
            print(f"heartbeats off (--heartbeat-interval 3600), gRPC keepalive only, SIGSTOP x {args.keepalive}:")
            summarize("keepalive only", measure(root, 3600, args.keepalive), None)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
