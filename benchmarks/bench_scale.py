"""What one control plane carries: many agents, many works, a large state. Prints one JSON object (``--json``).

    .venv/bin/python benchmarks/bench_scale.py --agents 1000 --works 10000 --json
    .venv/bin/python benchmarks/bench_scale.py --quick --json            # a reduced run, under a minute
    .venv/bin/python benchmarks/bench_scale.py --agents 100 --works 1000 --rates 5,10,20 --state-mb 100 --json

A real ``lightning-ctl run --no-local-agent`` serves a generated app of ``--works`` works (each asks for 1 CPU and
is called once by the flow's first run). Simulated agents (``_fleet.py``, ``--sim-procs`` processes) join it with
a join token, each on its own gRPC channel and stream, and play the works' processes: the real protocol, real
credentials, no work process. In order:

1. placement: the works wait (no agent yet); the agents join (each offers ceil(works/agents) CPUs, so they fill
   up exactly) and the time from the first join to the last launch received is ``placement_all_s``;
2. heartbeats: every work placed and running, nothing else happening; the control plane's CPU over a window is
   ``heartbeat_cp_cpu_percent_of_core``, its RSS ``cp_rss_mb``;
3. updates: each work sends ``--rates`` changes of one attribute per second (each rate in turn, ``--duration``
   seconds); an update counts as applied once the control plane acknowledged it (it does so after the checkpoint
   that holds it). ``updates_per_s`` is what was applied over the time from the start of the load until the last
   update was applied (what one control plane sustains: when the offer exceeds it, the backlog drains after the
   load ends), ``updates_per_s_during_load`` the acknowledged rate during the load (first 2 s left out),
   ``updates_per_cp_cpu_s`` what one second of the control plane's CPU applies (on a shared machine the control
   plane may get less than a core: this is what a core of its own would sustain, roughly);
   ``tick_p99_ms`` the 99th percentile of the time between two runs of the root flow while events keep arriving
   (the flow never waits then: one loop of the flow thread: apply events, run the flows, send, checkpoint);
4. large state (``--state-mb``, its own control plane): 10 works on 10 agents set a list attribute of
   state-mb/10 MB each, then one small attribute changes 10 times/s in total; the control plane's CPU and bytes
   written per second are the checkpoint's cost; then the control plane is SIGKILLed and started again, and
   ``restart_to_resumed_s`` is the time until the flows run again on the restored state with every agent back.

The machine is shared: every figure comes with the load average. Each process started is killed at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Callable

sys.dont_write_bytecode = True

import psutil  # noqa: E402

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
LIGHTNING_CTL = str(BIN / "lightning-ctl")

APP = '''
import json, math, os, time
from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork

WORKS = {works}
TICKS_FILE = {ticks_file!r}
_B = {{"called": False, "first_run": True, "gaps": [], "last": None, "flushed": time.monotonic()}}


class Sim(LightningWork):
    """Played by a simulated agent: this run() never runs here."""

    def __init__(self):
        super().__init__(parallel=True, start_with_flow=False, cloud_compute=CloudCompute(cpus={cpus}))
        self.count = 0
        self.data = []

    def run(self):
        pass


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.ran_before = False
        for i in range(WORKS):
            setattr(self, f"w{{i}}", Sim())

    def run(self):
        now = time.monotonic()
        if _B["last"] is not None:
            _B["gaps"].append(now - _B["last"])
        _B["last"] = now
        if now - _B["flushed"] >= 1.0:
            with open(TICKS_FILE, "a") as f:
                f.write(json.dumps({{"t": now, "gaps": _B["gaps"]}}) + "\\n")
            _B["gaps"] = []
            _B["flushed"] = now
        if _B["first_run"]:
            _B["first_run"] = False
            print("BENCH_FIRST_RUN resumed=" + str(self.ran_before), flush=True)
            if not self.ran_before:
                self.ran_before = True
        if not _B["called"]:
            _B["called"] = True
            for i in range(WORKS):
                getattr(self, f"w{{i}}").run()
            print("BENCH_CALLED", flush=True)


app = LightningApp(Root())
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Lines:
    """A process's stdout or stderr, read line by line on a thread."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            with self._cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, predicate: Callable[[str], bool], timeout_s: float, alive: Callable[[], bool]) -> str:
        deadline = time.monotonic() + timeout_s
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(self.lines)
                if time.monotonic() > deadline or not alive():
                    raise RuntimeError(f"expected line not seen; last lines: {self.lines[-10:]}")
                self._cond.wait(0.2)


class ControlPlane:
    """``lightning-ctl run --no-local-agent`` on a fixed port, in its own session, HOME in the bench's folder."""

    def __init__(self, app: Path, home: Path, port: int, join_token: str, token: str) -> None:
        self.app, self.home, self.port, self.join_token, self.token = app, home, port, join_token, token
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ControlPlane:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTNING_")}
        env.update(HOME=str(self.home), PYTHONDONTWRITEBYTECODE="1")
        self.proc = subprocess.Popen(
            [LIGHTNING_CTL, "run", str(self.app), "--no-local-agent", "--no-http", "--port", str(self.port),
             "--token", self.token, "--join-token", self.join_token, "--log-level", "warning", "--stop-grace", "5"],
            cwd=str(self.app.parent), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True)
        self.started_at = time.monotonic()
        self.out, self.err = Lines(self.proc.stdout), Lines(self.proc.stderr)
        self.ps = psutil.Process(self.proc.pid)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_line(self, prefix: str, timeout_s: float) -> str:
        return self.out.wait_for(lambda line: line.startswith(prefix), timeout_s, self.alive)

    def cpu_s(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 2**20

    def io(self) -> tuple[int, int]:
        """(bytes passed to write calls, bytes sent to storage) so far."""
        counters = self.ps.io_counters()
        return counters.write_chars, counters.write_bytes

    def stop(self, timeout_s: float = 60.0) -> int | None:
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class Fleet:
    """The simulated agents: ``procs`` processes of ``_fleet.py``, their status lines aggregated."""

    def __init__(self, port: int, join_token: str, agents: int, procs: int, cpus: float, flush_ms: float,
                 control_plane: ControlPlane | None = None) -> None:
        self.control_plane = control_plane
        """Watched while waiting: a control plane that exits ends the wait with its last words."""
        procs = max(1, min(procs, agents))
        per = math.ceil(agents / procs)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.outs: list[Lines] = []
        self.started_at = time.monotonic()
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        for first in range(0, agents, per):
            proc = subprocess.Popen(
                [sys.executable, str(HERE / "_fleet.py"), "--control-plane", f"127.0.0.1:{port}", "--join-token",
                 join_token, "--first", str(first), "--count", str(min(per, agents - first)), "--cpus", str(cpus),
                 "--flush-ms", str(flush_ms)],
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
            self.procs.append(proc)
            self.outs.append(Lines(proc.stdout))
            Lines(proc.stderr)  # drained (grpc may warn), kept for nothing

    def synced(self, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        """Every process's report, made now (not the last periodic one)."""
        self._sync = getattr(self, "_sync", 0) + 1
        self.send(f"sync {self._sync}")
        deadline = time.monotonic() + timeout_s
        while True:
            found = [next((json.loads(line) for line in reversed(out.lines)
                           if line.startswith("{") and f'"sync": {self._sync}' in line), None) for out in self.outs]
            if all(found):
                return found  # type: ignore[return-value]
            if time.monotonic() > deadline:
                raise RuntimeError("the simulated agents did not report")
            time.sleep(0.02)

    def synced_total(self, key: str) -> int:
        return sum(s.get(key) or 0 for s in self.synced())

    def latest(self) -> list[dict[str, Any]]:
        found = []
        for out in self.outs:
            for line in reversed(out.lines):
                if line.startswith("{"):
                    found.append(json.loads(line))
                    break
            else:
                found.append({})
        return found

    def total(self, key: str) -> int:
        return sum(s.get(key) or 0 for s in self.latest())

    def send(self, command: str) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.stdin.write((command + "\n").encode())
                proc.stdin.flush()

    def wait(self, predicate: Callable[[], bool], timeout_s: float, what: str) -> float:
        started = time.monotonic()
        while not predicate():
            if time.monotonic() - started > timeout_s:
                raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}: {self.latest()}")
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"a simulated agents' process exited while waiting for {what}")
            cp = self.control_plane
            if cp is not None and not cp.alive():
                raise RuntimeError(f"the control plane exited ({cp.proc.returncode}) while waiting for {what}: "
                                   + "\n".join(cp.err.lines[-30:] + cp.out.lines[-5:]))
            time.sleep(0.05)
        return time.monotonic() - started

    def cpu_s(self) -> float:
        total = 0.0
        for proc in self.procs:
            try:
                t = psutil.Process(proc.pid).cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def close(self) -> None:
        self.send("quit")
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def cpu_percent(sample: Callable[[], float], seconds: float) -> float:
    """Percent of one core used by what ``sample`` measures over ``seconds``."""
    c0, t0 = sample(), time.monotonic()
    time.sleep(seconds)
    return 100 * (sample() - c0) / (time.monotonic() - t0)


def settle(sample: Callable[[], float], timeout_s: float) -> float:
    """Wait until what ``sample`` measures stops working through a backlog (under 25 % of a core over 2 s, or
    two 2 s windows within 20 % of each other); how long that took."""
    started = time.monotonic()
    previous = cpu_percent(sample, 2.0)
    while previous > 25 and time.monotonic() - started < timeout_s:
        current = cpu_percent(sample, 2.0)
        if abs(current - previous) <= 0.2 * previous:
            break
        previous = current
    return time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def tick_gaps(ticks_file: Path, start: float, end: float) -> list[float]:
    gaps: list[float] = []
    try:
        text = ticks_file.read_text()
    except FileNotFoundError:
        return gaps
    for line in text.splitlines():
        record = json.loads(line)
        if start <= record["t"] <= end + 1.0:
            gaps.extend(record["gaps"])
    return gaps


class Bench:
    """One benchmark invocation: its folder, its processes, and the figures."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root = Path(tempfile.mkdtemp(prefix="lightning-ctl-scale-"))
        self.result: dict[str, Any] = {"agents": args.agents, "works": args.works,
                                       "load_average_start": load_average()}

    def log(self, message: str) -> None:
        if self.args.verbose or not self.args.json:
            print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    def app(self, name: str, works: int, cpus: float) -> tuple[Path, Path]:
        folder = self.root / name
        folder.mkdir()
        ticks = folder / "ticks.jsonl"
        path = folder / "app.py"
        path.write_text(textwrap.dedent(APP.format(works=works, ticks_file=str(ticks), cpus=cpus)).lstrip())
        (folder / "home").mkdir()
        return path, ticks

    def control_plane(self, app: Path) -> ControlPlane:
        return ControlPlane(app, app.parent / "home", free_port(), "join-" + secrets.token_hex(16),
                            secrets.token_hex(16))

    # -- 1-3: agents, placement, heartbeats, updates -------------------------------------------------------------

    def run_fleet(self) -> None:
        a = self.args
        app, ticks = self.app("fleet", a.works, 1)
        cp = self.control_plane(app).start()
        fleet = None
        try:
            cp.wait_line("BENCH_CALLED", 120)
            cpus = math.ceil(a.works / a.agents)
            self.log(f"control plane up; {a.agents} agents joining ({cpus} CPUs each)")
            fleet = Fleet(cp.port, cp.join_token, a.agents, a.sim_procs, cpus, a.flush_ms, cp)
            fleet.wait(lambda: fleet.total("connected") >= a.agents, a.timeout, "every agent to join")
            fleet.wait(lambda: fleet.total("works") >= a.works, a.timeout, "every work to be placed")
            statuses = fleet.latest()
            first_join = min(s["connect_started_at"] for s in statuses)
            join_s = max(s["connect_done_at"] for s in statuses) - first_join
            last_launch = max(s["last_launch_at"] for s in statuses if s.get("last_launch_at"))
            self.result["join_all_s"] = round(join_s, 3)
            self.result["placement_all_s"] = round(last_launch - first_join, 3)
            fleet.wait(lambda: fleet.total("running") >= a.works, a.timeout, "every work to run")
            self.log(f"joined in {join_s:.2f} s, all placed {self.result['placement_all_s']:.2f} s after the "
                     "first join; measuring heartbeats")
            time.sleep(a.settle)
            self.result["settle_s"] = round(settle(cp.cpu_s, a.timeout), 1)
            self.result["heartbeat_cp_cpu_percent_of_core"] = round(cpu_percent(cp.cpu_s, a.heartbeat_window), 2)
            self.result["cp_rss_mb"] = round(cp.rss_mb(), 1)
            self.result["heartbeat_load_average"] = load_average()
            self.result["curve"] = [self.load_phase(cp, fleet, ticks, rate) for rate in a.rates]
            first = self.result["curve"][0]
            for key in ("updates_sent", "updates_applied", "updates_per_s", "tick_p50_ms", "tick_p99_ms"):
                self.result[key] = first[key]
            self.result["cp_rss_mb_after_updates"] = round(cp.rss_mb(), 1)
            self.result["sim_errors"] = fleet.total("error_count")
        finally:
            code = cp.stop()
            self.result["cp_exit_code"] = code
            if code not in (0, 130):
                self.result["cp_last_lines"] = cp.err.lines[-30:] + cp.out.lines[-5:]
            if fleet is not None:
                fleet.close()
            cp.kill()

    def load_phase(self, cp: ControlPlane, fleet: Fleet, ticks: Path, rate: float) -> dict[str, Any]:
        a = self.args
        sent0, applied0 = fleet.synced_total("updates_sent"), fleet.synced_total("updates_applied")
        self.log(f"updates: {rate:g}/s per work for {a.duration:g} s ({rate * a.works:,.0f}/s offered)")
        cpu0, sim0, t0 = cp.cpu_s(), fleet.cpu_s(), time.monotonic()
        fleet.send(f"go {rate} {a.duration}")
        samples = []
        while time.monotonic() - t0 < a.duration:
            time.sleep(0.5)
            samples.append((time.monotonic(), fleet.synced_total("updates_applied") - applied0))
        t_end = time.monotonic()
        cp_cpu = 100 * (cp.cpu_s() - cpu0) / (t_end - t0)
        sim_cpu = 100 * (fleet.cpu_s() - sim0) / (t_end - t0)
        window = [(t, n) for t, n in samples if t >= t0 + min(2.0, a.duration / 3)]
        rate_applied = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]) if len(window) > 1 else 0.0
        time.sleep(a.flush_ms / 1000 + 0.3)  # the last flush of the simulated agents
        sent = fleet.synced_total("updates_sent") - sent0
        drained = True
        try:
            drain_s = fleet.wait(lambda: fleet.synced_total("updates_applied") - applied0 >= sent, a.timeout,
                                 "every update to be applied")
        except RuntimeError:
            if not cp.alive():
                raise
            drained, drain_s = False, float("nan")
        applied = fleet.synced_total("updates_applied") - applied0
        t_drained, cpu_drained = time.monotonic(), cp.cpu_s()
        gaps = tick_gaps(ticks, t0 + min(2.0, a.duration / 3), t_end)
        phase = {
            "rate_per_work": rate,
            "offered_updates_per_s": round(rate * a.works),
            "updates_sent": sent,
            "updates_applied": applied,
            "all_applied": drained and applied >= sent,
            "updates_per_s": round(applied / (t_drained - t0)),
            "updates_per_s_during_load": round(rate_applied),
            "updates_per_cp_cpu_s": round(applied / max(1e-9, cpu_drained - cpu0)),
            "drain_after_s": round(drain_s, 2),
            "tick_p50_ms": round(1000 * percentile(gaps, 0.5), 2),
            "tick_p99_ms": round(1000 * percentile(gaps, 0.99), 2),
            "ticks": len(gaps),
            "cp_cpu_percent_of_core": round(cp_cpu, 1),
            "sim_cpu_percent_of_core": round(sim_cpu, 1),
            "load_average": load_average(),
        }
        self.log(f"  {phase}")
        return phase

    # -- 4: large state --------------------------------------------------------------------------------------------

    def run_large_state(self) -> None:
        a = self.args
        works = 10
        app, _ = self.app("large", works, 1)
        cp = self.control_plane(app).start()
        fleet = None
        out: dict[str, Any] = {"state_mb": a.state_mb}
        self.result["large_state"] = out
        try:
            cp.wait_line("BENCH_CALLED", 120)
            fleet = Fleet(cp.port, cp.join_token, works, 1, 1, a.flush_ms, cp)
            fleet.wait(lambda: fleet.total("running") >= works, a.timeout, "every work to run")
            self.log(f"large state: {works} works set {a.state_mb / works:g} MB each")
            t0 = time.monotonic()
            fleet.send(f"big {a.state_mb / works}")
            fleet.wait(lambda: fleet.synced_total("big_applied") >= works, a.timeout,
                       "the large attributes to be applied")
            out["set_large_state_s"] = round(time.monotonic() - t0, 2)
            time.sleep(a.settle)
            out["idle_cp_cpu_percent_of_core"] = round(cpu_percent(cp.cpu_s, a.heartbeat_window / 2), 1)
            out["cp_rss_mb"] = round(cp.rss_mb(), 1)
            self.log("large state: a small attribute changes 10 times/s in total")
            io0, cpu0, t0 = cp.io(), cp.cpu_s(), time.monotonic()
            applied0 = fleet.total("updates_applied")
            fleet.send(f"go {10 / works} {a.duration}")
            time.sleep(a.duration)
            io1, cpu1, t1 = cp.io(), cp.cpu_s(), time.monotonic()
            out["changing_cp_cpu_percent_of_core"] = round(100 * (cpu1 - cpu0) / (t1 - t0), 1)
            out["checkpoint_write_calls_mb_per_s"] = round((io1[0] - io0[0]) / 2**20 / (t1 - t0), 1)
            out["checkpoint_storage_mb_per_s"] = round((io1[1] - io0[1]) / 2**20 / (t1 - t0), 1)
            out["changes_applied_per_s"] = round((fleet.total("updates_applied") - applied0) / (t1 - t0), 1)
            out["load_average"] = load_average()
            self.log(f"  {out}")
            # Restart: SIGKILL, start again on the same home and port; the agents reconnect with their credential.
            os.killpg(cp.proc.pid, signal.SIGKILL)
            cp.proc.wait(10)
            reconnects0 = sum(1 for o in fleet.outs for line in o.lines if '"reconnected"' in line)
            restarted = ControlPlane(cp.app, cp.home, cp.port, cp.join_token, cp.token).start()
            cp = fleet.control_plane = restarted
            line = cp.wait_line("BENCH_FIRST_RUN", a.timeout)
            resumed_s = time.monotonic() - cp.started_at
            fleet.wait(lambda: sum(1 for o in fleet.outs for line in o.lines if '"reconnected"' in line) > reconnects0
                       and fleet.total("connected") >= works, a.timeout, "the agents to reconnect")
            out["restart_to_first_run_s"] = round(resumed_s, 2)
            out["restart_resumed"] = line.endswith("resumed=True")
            out["restart_to_resumed_s"] = round(time.monotonic() - cp.started_at, 2)
            out["cp_rss_mb_after_restart"] = round(cp.rss_mb(), 1)
            self.log(f"  restart: {out}")
        finally:
            cp.stop()
            if fleet is not None:
                fleet.close()
            cp.kill()

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--works", type=int, default=10000)
    parser.add_argument("--rates", default="5", help="updates/s per work, one load phase each (comma-separated)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of each load phase")
    parser.add_argument("--heartbeat-window", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--sim-procs", type=int, default=4, help="processes the simulated agents are spread over")
    parser.add_argument("--flush-ms", type=float, default=200.0, help="how often each simulated agent sends")
    parser.add_argument("--state-mb", type=float, default=0.0, help="also run the large-state scenario")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--quick", action="store_true", help="100 agents, 1,000 works, 10 MB state, short phases")
    parser.add_argument("--json", action="store_true", help="print only the JSON object on stdout")
    parser.add_argument("--verbose", action="store_true", help="progress on stderr even with --json")
    args = parser.parse_args(argv)
    if args.quick:
        args.agents, args.works, args.duration, args.heartbeat_window, args.settle = 100, 1000, 6.0, 4.0, 1.0
        args.state_mb = args.state_mb or 10.0
        args.sim_procs = min(args.sim_procs, 2)
    args.rates = [float(r) for r in str(args.rates).split(",") if r]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    started = time.monotonic()
    status = 0
    try:
        bench.run_fleet()
        if args.state_mb:
            bench.run_large_state()
    except (RuntimeError, psutil.Error) as exc:  # the figures measured so far are printed all the same
        bench.result.setdefault("error", str(exc))
        status = 1
    finally:
        bench.result["load_average_end"] = load_average()
        bench.result["bench_s"] = round(time.monotonic() - started, 1)
        bench.close()
    print(json.dumps(bench.result, indent=None if args.json else 2))
    return status


if __name__ == "__main__":
    sys.exit(main())
