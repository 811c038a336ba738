"""Fault figures: how fast lightning-ctl notices and recovers from dead, frozen and restarted processes.

    .venv/bin/python benchmarks/bench_faults.py [--repeat 5] [--detect-repeat 3] [--only 1,2,3,4]

Through the real CLIs (``lightning-ctl run --no-local-agent`` and one ``lightning-agent``, each in its own session),
with ``tests/faults/apps/streams.py``: three parallel works each assigning a growing list every 20 ms (one event per
step) and printing a line per step, until the benchmark is done with them. Figures, as median (min-max) over rounds:

1. agent disconnect detection after SIGSTOP, default 2 s heartbeat: from the SIGSTOP to the control plane's
   ``agent_disconnected`` log line (target <= 10 s; 6-7 s expected: 3 missed heartbeats, checked every 1 s).
   Then SIGCONT and wait for the agent to re-register.
2. re-attach after a control-plane restart: SIGKILL lightning-ctl, run it again at once; from the new process's
   ``control_plane_listening`` line to its ``agent_connected ... running=3`` line (target <= 5 s), and from the
   SIGKILL to that line.
3. agent restart -> works re-adopted: SIGKILL the agent, start it again (same --state-dir and --name); from the
   start to its last ``work_process_adopted`` line, and to the control plane's ``agent_connected ... running=3``.
4. events replayed after an agent SIGKILL: the control plane does not log duplicate drops, so a ``sitecustomize``
   written to the temporary folder (on PYTHONPATH of the processes started here, patching nothing but a counter
   around ``EventSequencer.accept``) counts, per control plane process, the work events it dropped as already
   applied and those that arrived ahead of a gap; measured over the rounds of figure 3 (and shown for figure 2's
   restarts too).

A round in which the agent process ends by itself (it should never) is reported, and the agent is started again so
that the other rounds still run. Every wait has a deadline; every process started is killed at the end (SIGCONT
first), and the temporary folder is removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for tests.helpers

from tests.helpers import wait_until  # noqa: E402
from tests.helpers.agents import AgentProcess, ControlPlane  # noqa: E402
from tests.helpers.fault_cluster import FaultCluster  # noqa: E402
from tests.helpers.logs import log_field, timestamp  # noqa: E402
from tests.helpers.streams import AGENT_ARGS, STREAMS, knobs  # noqa: E402

DETECTION_TARGET_S = 10.0
REATTACH_TARGET_S = 5.0
WORKS = 3

COUNTER_SITE = textwrap.dedent('''
    """Benchmark-only instrumentation: count the work events a control plane drops as duplicates (or holds as early).

    Active only when FAULT_BENCH_COUNTS names a folder; writes <folder>/<pid>.json every 0.1 s once counting.
    """
    import json
    import os
    import threading
    import time

    _FOLDER = os.environ.get("FAULT_BENCH_COUNTS")
    _COUNTS = {"dropped": 0, "early": 0, "applied": 0}


    def _writer():
        path = os.path.join(_FOLDER, f"{os.getpid()}.json")
        last = None
        while True:
            time.sleep(0.1)
            if _COUNTS != last:
                last = dict(_COUNTS)
                tmp = path + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(last, f)
                os.replace(tmp, path)


    def _patch(module):
        original = module.EventSequencer.accept

        def accept(self, event):
            first = event.first_seq or event.seq
            if event.seq <= self.applied_seq:
                _COUNTS["dropped"] += 1
            elif first > self.applied_seq + 1:
                _COUNTS["early"] += 1
            else:
                _COUNTS["applied"] += 1
            return original(self, event)

        module.EventSequencer.accept = accept
        threading.Thread(target=_writer, daemon=True).start()


    if _FOLDER:
        from tests.helpers.on_import import patch_on_import  # the repository is on PYTHONPATH too

        patch_on_import("lightning_ctl.controlplane.flows.sequencing", _patch)
''')


@dataclass
class Figures:
    """Measurements of one benchmark run."""

    detection_s: list[float] = field(default_factory=list)
    listen_to_attach_s: list[float] = field(default_factory=list)
    kill_to_attach_s: list[float] = field(default_factory=list)
    adopted_s: list[float] = field(default_factory=list)
    agent_attached_s: list[float] = field(default_factory=list)
    replayed_after_agent_kill: list[int] = field(default_factory=list)
    replayed_after_cp_restart: list[int] = field(default_factory=list)
    incidents: list[str] = field(default_factory=list)
    """Things that should never happen (an agent ending by itself...)."""


class Bench:
    """One control plane, one agent and the streaming app, restarted as the figures need."""

    def __init__(self, root: Path, figures: Figures) -> None:
        self.root = root
        self.figures = figures
        self.counts_dir = root / "counts"
        self.counts_dir.mkdir(parents=True)
        site = root / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(COUNTER_SITE)
        # Inherited by what the cluster starts (its env copies os.environ); the repository for tests.helpers.
        os.environ["PYTHONPATH"] = os.pathsep.join([str(site), str(Path(__file__).resolve().parent.parent)])
        os.environ["FAULT_BENCH_COUNTS"] = str(self.counts_dir)
        self.cluster = FaultCluster(root / "cluster")
        self.cluster.root.mkdir()
        self.stop_file = root / "stop-streaming"
        self.cp: ControlPlane | None = None
        self.agent: AgentProcess | None = None

    # -- processes ------------------------------------------------------------------------------------------------

    def start_control_plane(self, *extra: str) -> ControlPlane:
        self.cp = self.cluster.control_plane(STREAMS, *extra, *knobs(50, works=WORKS, stop_file=self.stop_file),
                                             "--env", "FAULT_MAX_STEPS=1000000")
        return self.cp

    def start_agent(self) -> AgentProcess:
        self.agent = self.cluster.agent("a", *AGENT_ARGS, control_plane=f"127.0.0.1:{self.cp.port}", may_exit=True)
        return self.agent

    def attached_lines(self, cp: ControlPlane) -> list[str]:
        return [line for line in cp.lines_with("agent_connected") if log_field(line, "running") == str(WORKS)]

    def ensure_agent(self, when: str) -> None:
        """Start the agent again if it ended by itself (and record the incident)."""
        assert self.agent is not None
        if self.agent.proc.poll() is not None:
            tail = [line for line in self.agent.stderr_lines[-5:]]
            self.figures.incidents.append(f"{when}: the agent exited by itself (status {self.agent.proc.returncode});"
                                          f" last lines: {tail}")
            before = len(self.attached_lines(self.cp))
            self.start_agent()
            wait_until(lambda: len(self.attached_lines(self.cp)) > before, 30, what="the agent to re-attach")

    def counts(self) -> dict[int, dict[str, int]]:
        """{control plane pid: its counters} as last written."""
        out = {}
        for path in self.counts_dir.glob("*.json"):
            try:
                out[int(path.stem)] = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
        return out

    def setup(self, *cp_args: str) -> None:
        self.start_control_plane(*cp_args)
        self.start_agent()
        wait_until(lambda: sum(1 for line in self.cp.stdout_lines if " | PID " in line) >= WORKS, 30,
                   what="the works to start")
        time.sleep(0.5)

    # -- figures --------------------------------------------------------------------------------------------------

    def detection(self, rounds: int) -> None:
        """Figure 1 (default heartbeat)."""
        cp = self.cp
        for i in range(rounds):
            self.ensure_agent(f"detection round {i + 1}")
            before = len(cp.lines_with("agent_disconnected"))
            attached = len(self.attached_lines(cp))
            time.sleep(0.3)
            stopped = time.time()
            os.kill(self.agent.pid, signal.SIGSTOP)
            try:
                wait_until(lambda before=before: len(cp.lines_with("agent_disconnected")) > before, 30, interval_s=0.01,
                           what="agent_disconnected")
                self.figures.detection_s.append(timestamp(cp.lines_with("agent_disconnected")[before]) - stopped)
            finally:
                os.kill(self.agent.pid, signal.SIGCONT)
            deadline = time.monotonic() + 20
            while (len(self.attached_lines(cp)) <= attached and time.monotonic() < deadline
                   and self.agent.proc.poll() is None):
                time.sleep(0.05)
            self.ensure_agent(f"detection round {i + 1} (after SIGCONT)")

    def control_plane_restarts(self, rounds: int) -> None:
        """Figure 2 (and the replays of figure 4 seen by each new control plane)."""
        for i in range(rounds):
            self.ensure_agent(f"control-plane restart round {i + 1}")
            time.sleep(0.5)
            old = self.cp
            old.record_pids()
            killed = time.time()
            old.proc.send_signal(signal.SIGKILL)
            wait_until(lambda old=old: old.proc.poll() is not None, 10, what="lightning-ctl to die")
            cp = self.start_control_plane("--heartbeat-interval", "0.3", "--agent-lost-grace", "2")
            deadline = time.monotonic() + 20
            while not self.attached_lines(cp) and time.monotonic() < deadline and self.agent.proc.poll() is None:
                time.sleep(0.02)
            if not self.attached_lines(cp):
                self.ensure_agent(f"control-plane restart round {i + 1}")
                continue
            attached = timestamp(self.attached_lines(cp)[0])
            listening = timestamp(cp.lines_with("control_plane_listening")[0])
            self.figures.listen_to_attach_s.append(attached - listening)
            self.figures.kill_to_attach_s.append(attached - killed)
            time.sleep(1.0)  # let the works' resent events arrive
            self.figures.replayed_after_cp_restart.append(self.counts().get(cp.pid, {}).get("dropped", 0))

    def agent_restarts(self, rounds: int) -> None:
        """Figures 3 and 4."""
        cp = self.cp
        for i in range(rounds):
            self.ensure_agent(f"agent restart round {i + 1}")
            time.sleep(0.7)
            dropped_before = self.counts().get(cp.pid, {}).get("dropped", 0)
            attached = len(self.attached_lines(cp))
            self.agent.proc.send_signal(signal.SIGKILL)
            old = self.agent
            wait_until(lambda old=old: old.proc.poll() is not None, 10, what="the agent to die")
            started = time.time()
            agent = self.start_agent()
            try:
                wait_until(lambda agent=agent: len(agent.lines_with("work_process_adopted")) >= WORKS, 20,
                           what="the works to be adopted")
                wait_until(lambda attached=attached: len(self.attached_lines(cp)) > attached, 20,
                           what="agent_connected running=3")
            except AssertionError as exc:
                self.figures.incidents.append(f"agent restart round {i + 1}: {str(exc).splitlines()[0]}")
                continue
            self.figures.adopted_s.append(timestamp(agent.lines_with("work_process_adopted")[-1]) - started)
            self.figures.agent_attached_s.append(timestamp(self.attached_lines(cp)[attached]) - started)
            time.sleep(1.0)
            self.figures.replayed_after_agent_kill.append(
                self.counts().get(cp.pid, {}).get("dropped", 0) - dropped_before)

    def close(self) -> None:
        self.stop_file.touch()
        self.cluster.close()


def _summary(values: list[float], unit: str = "s", digits: int = 2) -> str:
    if not values:
        return "no measurement"
    fmt = f"{{:.{digits}f}}"
    return (f"{fmt.format(statistics.median(values))} {unit} (min {fmt.format(min(values))}, "
            f"max {fmt.format(max(values))}, n={len(values)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds of figures 2, 3 and 4")
    parser.add_argument("--detect-repeat", type=int, default=3, help="rounds of figure 1 (each ~7 s)")
    parser.add_argument("--only", default="1,2,3,4", help="figures to measure, e.g. 1,3")
    args = parser.parse_args()
    only = {int(x) for x in args.only.split(",") if x.strip()}
    figures = Figures()
    root = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    started = time.monotonic()
    try:
        if 1 in only:
            bench = Bench(root / "detect", figures)
            try:
                bench.setup()  # default heartbeat (2 s) and grace (60 s)
                bench.detection(args.detect_repeat)
            finally:
                bench.close()
        if only & {2, 3, 4}:
            bench = Bench(root / "restarts", figures)
            try:
                bench.setup("--heartbeat-interval", "0.3", "--agent-lost-grace", "2")
                if only & {3, 4}:
                    bench.agent_restarts(args.repeat)
                if 2 in only:
                    bench.control_plane_restarts(args.repeat)
            finally:
                bench.close()
    finally:
        for name in ("PYTHONPATH", "FAULT_BENCH_COUNTS"):
            os.environ.pop(name, None)
        shutil.rmtree(root, ignore_errors=True)

    print(f"bench_faults: {time.monotonic() - started:.0f} s, load average {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} CPUs")
    ok = True
    if 1 in only:
        met = bool(figures.detection_s) and max(figures.detection_s) <= DETECTION_TARGET_S
        ok &= met
        print(f"1. SIGSTOP -> agent_disconnected (heartbeat 2 s):   {_summary(figures.detection_s)}"
              f"   target <= {DETECTION_TARGET_S:g} s: {'met' if met else 'NOT met'}")
    if 2 in only:
        met = bool(figures.listen_to_attach_s) and max(figures.listen_to_attach_s) <= REATTACH_TARGET_S
        ok &= met
        print(f"2. new CP listening -> agent re-attached (3 works): {_summary(figures.listen_to_attach_s)}"
              f"   target <= {REATTACH_TARGET_S:g} s: {'met' if met else 'NOT met'}")
        print(f"   CP SIGKILL -> agent re-attached (restart at once): {_summary(figures.kill_to_attach_s)}")
    if 3 in only:
        print(f"3. agent restart -> 3 works re-adopted (agent log): {_summary(figures.adopted_s)}")
        print(f"   agent restart -> agent_connected running=3:      {_summary(figures.agent_attached_s)}")
    if 4 in only or 3 in only:
        print(f"4. events replayed (dropped as duplicates) per agent SIGKILL: "
              f"{_summary([float(v) for v in figures.replayed_after_agent_kill], 'events', 0)}")
    if 2 in only:
        print(f"   events dropped as duplicates by each restarted CP:  "
              f"{_summary([float(v) for v in figures.replayed_after_cp_restart], 'events', 0)}")
    for incident in figures.incidents:
        ok = False
        print(f"INCIDENT: {incident}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
