"""Work output under a flood, measured through the real ``lightning-ctl run`` and ``lightning-ctl logs`` CLIs.

    .venv/bin/python benchmarks/bench_output.py [--lines 300000] [--line-bytes 80] [--timeout 180]

A generated app runs three things at once: ``root.flood`` prints ``--lines`` lines as fast as ``print`` goes,
``root.beat`` sets an attribute every 10 ms, and the root flow changes its own state on every run (so the loop
keeps its steady 20 ms pace). Alongside, two ``lightning-ctl logs -f root.flood`` readers follow the output: one
read as fast as possible, one never read at all (its pipe fills, so the control plane must drop lines for it
rather than buffer them). The figures:

- lines/s: the flood as printed by the work, as it reached ``lightning-ctl run``'s console, and through the live
  ``logs -f`` stream;
- the flow loop while it floods: the gaps between its runs (20 ms when healthy) and how stale ``root.beat``'s
  value is when the flow sees it (the lag of another work's updates behind the flood's lines);
- memory: peak and final RSS of the control plane, the agent and the flooding work, against their idle RSS;
- disk: the agent's rotated log files of the flood (bounded at 10 MiB x 6) next to its raw capture files.

It ends the app with ``lightning-ctl stop`` (exit status 0 expected). Everything lives in a temporary HOME that is
removed at the end; every process started is in its own session and killed if it outlives the run.
Exit status: 0 when every line arrived and memory stayed bounded, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

sys.dont_write_bytecode = True

import psutil  # noqa: E402

BIN = Path(sys.executable).parent
LIGHTNING_CTL = str(BIN / "lightning-ctl")
MB = 2**20
FLOOD_PREFIX = "root.flood | "
MEMORY_BOUND_MB = 400.0
"""Peak RSS growth over idle that counts as unbounded for the control plane or the agent."""

APP = """
import json, sys, time
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

N = {lines}
PAYLOAD = "x" * {payload}
_S = {{"last_tick": None, "last_beat": 0.0, "last_publish": 0.0,
      "gaps": {{"idle": [], "flood": []}}, "lags": {{"idle": [], "flood": []}}}}


class Flood(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.started = 0.0
        self.write_s = 0.0

    def run(self):
        time.sleep(3.0)  # an idle baseline first
        self.started = time.time()
        t0 = time.perf_counter()
        for i in range(N):
            print(f"flood {{i}} {{PAYLOAD}}")
        sys.stdout.flush()
        self.write_s = time.perf_counter() - t0


class Beat(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.beat = 0.0

    def run(self):
        while True:
            self.beat = time.time()
            time.sleep(0.01)


def summary(values):
    if not values:
        return None
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {{"n": len(ordered), "p50_ms": pick(0.5) * 1000, "p99_ms": pick(0.99) * 1000,
            "max_ms": ordered[-1] * 1000}}


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.flood = Flood()
        self.beat = Beat()
        self.ticks = 0
        self.stats = {{}}

    def run(self):
        self.ticks += 1  # busy: the loop runs this flow every 20 ms
        now = time.time()
        phase = "flood" if self.flood.started else "idle"
        if _S["last_tick"] is not None:
            _S["gaps"][phase].append(now - _S["last_tick"])
        _S["last_tick"] = now
        self.beat.run()
        self.flood.run()
        beat = self.beat.beat
        if beat and beat != _S["last_beat"]:
            _S["lags"][phase].append(now - beat)
            _S["last_beat"] = beat
        if now - _S["last_publish"] > 0.5:
            _S["last_publish"] = now
            self.stats = {{"write_s": self.flood.write_s, "started": self.flood.started,
                          "gaps": {{k: summary(v) for k, v in _S["gaps"].items()}},
                          "lags": {{k: summary(v) for k, v in _S["lags"].items()}}}}


app = LightningApp(Root())
"""


class LineCounter:
    """Reads a stream line by line in a thread, counting the flood's lines and timing the first and last."""

    def __init__(self, stream: Any, prefix: str = FLOOD_PREFIX) -> None:
        self.prefix = prefix.encode()
        self.count = 0
        self.dropped_markers = 0
        self.dropped = 0
        self.first = self.last = 0.0
        self.tail: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            if raw.startswith(self.prefix):
                now = time.monotonic()
                self.first = self.first or now
                self.last = now
                self.count += 1
            elif b"dropped here" in raw:
                self.dropped_markers += 1
                self.dropped += int(raw.split()[1])
            else:
                self.tail = (self.tail + [raw.decode(errors="replace").rstrip()])[-20:]

    def rate(self) -> float:
        """Lines per second between the first and the last flood line."""
        return self.count / (self.last - self.first) if self.last > self.first else 0.0


class FileCounter:
    """Counts the flood's lines (and dropped-line markers) a process writes to a file, by polling what it appended.

    Files rather than pipes: a reader thread in this process would slow the writer down (and with it the control
    plane, whose console blocks on a full pipe), so the figures would be this script's, not lightning-ctl's.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.dropped = 0
        self.first = self.last = 0.0
        self._offset = 0
        self._partial = b""

    def poll(self) -> bool:
        """Read what was appended; whether there was anything."""
        try:
            with open(self.path, "rb") as file:
                file.seek(self._offset)
                data = file.read()
        except FileNotFoundError:
            return False
        if not data:
            return False
        self._offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        now = time.monotonic()
        flood = sum(1 for line in lines if line.startswith(FLOOD_PREFIX.encode()))
        if flood:
            self.first = self.first or now
            self.last = now
            self.count += flood
        self.dropped += sum(int(line.split()[1]) for line in lines if b"dropped here" in line)
        return True

    def rate(self) -> float:
        """Lines per second between the polls that saw the first and the last flood line."""
        return self.count / (self.last - self.first) if self.last > self.first else 0.0


def rss_mb(pid: int) -> float:
    try:
        return psutil.Process(pid).memory_info().rss / MB
    except psutil.Error:
        return 0.0


def roles(cp_pid: int, home: Path) -> dict[str, int]:
    """The pids of the control plane, its agent and the flooding work process (from ``lightning-ctl status``)."""
    found = {"control plane": cp_pid}
    try:
        children = psutil.Process(cp_pid).children()
    except psutil.Error:
        return found
    for child in children:
        try:
            cmdline = child.cmdline()
        except psutil.Error:
            continue
        if cmdline[1:3] == ["-m", "agent"]:
            found["agent"] = child.pid
    status = json.loads(ctl(home, "status", "--json").stdout or "{}")
    for work in status.get("works", []):
        if work["name"] == "root.flood" and work["pid"]:
            found["flood work"] = work["pid"]
    return found


def ctl(home: Path, *args: str, timeout_s: float = 30.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LIGHTNING_CTL, *args], env=env_for(home), capture_output=True, text=True, timeout=timeout_s
    )


def env_for(home: Path) -> dict[str, str]:
    env = {**os.environ, "HOME": str(home), "PYTHONPYCACHEPREFIX": str(home / "pycache")}
    env.pop("LIGHTNING_CTL_TOKEN", None)
    env.pop("LIGHTNING_CTL_ADDRESS", None)
    return env


def folder_bytes(folder: Path, pattern: str) -> tuple[int, int]:
    files = [p for p in folder.rglob(pattern) if p.is_file()] if folder.exists() else []
    return sum(p.stat().st_size for p in files), len(files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=300_000)
    parser.add_argument("--line-bytes", type=int, default=80, help="Bytes per line (about).")
    parser.add_argument("--timeout", type=float, default=180.0, help="Seconds to wait for every line.")
    parser.add_argument("--no-followers", action="store_true", help="Run without the two `logs -f` readers.")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-output-"))
    app = home / "app" / "flood_app.py"
    app.parent.mkdir()
    payload = max(0, args.line_bytes - len(f"flood {args.lines} "))
    app.write_text(textwrap.dedent(APP.format(lines=args.lines, payload=payload)).lstrip())
    procs: list[subprocess.Popen[bytes]] = []
    try:
        console_path = home / "console.txt"
        run = subprocess.Popen(
            [LIGHTNING_CTL, "run", str(app), "--log-level", "warning", "--stop-grace", "3"],
            cwd=str(app.parent),
            env=env_for(home),
            stdin=subprocess.DEVNULL,
            stdout=console_path.open("wb"),
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        procs.append(run)
        console = FileCounter(console_path)
        errors = LineCounter(run.stderr, prefix="\0")  # only its last lines are kept, for errors
        deadline = time.monotonic() + 30
        while not (home / ".lightning-ctl" / "run.json").exists():
            if time.monotonic() > deadline or run.poll() is not None:
                raise SystemExit("the app did not start:\n" + "\n".join(errors.tail))
            time.sleep(0.05)
        # The followers subscribe now, well before the flood (which waits 3 s): they miss nothing.
        follow = [LIGHTNING_CTL, "logs", "-f", "root.flood"] if not args.no_followers else ["true"]
        fast = subprocess.Popen(
            follow,
            env=env_for(home),
            stdout=(home / "follower.txt").open("wb"),
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        stuck = subprocess.Popen(
            follow,
            env=env_for(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs += [fast, stuck]
        time.sleep(1.0)  # the works start
        pids = roles(run.pid, home)
        idle = {role: rss_mb(pid) for role, pid in pids.items()}
        follower = FileCounter(home / "follower.txt")
        peak = dict(idle)
        deadline = time.monotonic() + args.timeout
        flood_started = time.monotonic()
        while console.count < args.lines and time.monotonic() < deadline and run.poll() is None:
            for role, pid in pids.items():
                peak[role] = max(peak.get(role, 0.0), rss_mb(pid))
            console.poll()
            follower.poll()
            time.sleep(0.05)
        waited_s = time.monotonic() - flood_started
        settle = time.monotonic() + 30
        quiet_since = time.monotonic()
        while not args.no_followers and follower.count + follower.dropped < console.count:
            if follower.poll():
                quiet_since = time.monotonic()
            if time.monotonic() > settle or time.monotonic() - quiet_since > 3.0:
                break
            time.sleep(0.05)
        final = {role: rss_mb(pid) for role, pid in pids.items()}
        state = json.loads(ctl(home, "state", "--json").stdout or "{}")
        stats = state.get("vars", {}).get("stats", {})
        status = ctl(home, "status")
        # The stuck reader, read at last: what the control plane kept for it, and how many lines it dropped.
        unstuck = LineCounter(stuck.stdout)
        quiet = time.monotonic() + 20
        while time.monotonic() < quiet:
            before = unstuck.count
            time.sleep(0.5)
            if unstuck.count == before:
                break
        stopped = ctl(home, "stop")
        exit_code = run.wait(timeout=30)
        fast.wait(timeout=10)
        logs_bytes, logs_files = folder_bytes(home, "logs/root.flood/*")
        capture_bytes, _ = folder_bytes(home, "output/root.flood.*")
    finally:
        for proc in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for proc in psutil.process_iter(["environ"]):
            try:
                if (proc.info["environ"] or {}).get("HOME") == str(home):
                    proc.kill()
            except psutil.Error:
                pass
        shutil.rmtree(home, ignore_errors=True)

    write_s = stats.get("write_s") or 0.0
    result = {
        "lines": args.lines,
        "line_bytes": args.line_bytes,
        "work_print_lines_per_s": round(args.lines / write_s) if write_s else None,
        "console_lines": console.count,
        "waited_s": round(waited_s, 1),
        "console_lines_per_s": round(console.rate()),
        "logs_follow_lines": follower.count,
        "logs_follow_lines_per_s": round(follower.rate()),
        "logs_follow_dropped": follower.dropped,
        "stuck_reader_lines": unstuck.count,
        "stuck_reader_dropped": unstuck.dropped,
        "flow_run_gaps": stats.get("gaps"),
        "beat_lag": stats.get("lags"),
        "rss_mb": {
            role: {
                "idle": round(idle.get(role, 0), 1),
                "peak": round(peak.get(role, 0), 1),
                "final": round(final.get(role, 0), 1),
            }
            for role in peak
        },
        "agent_log_files": {"files": logs_files, "mb": round(logs_bytes / MB, 1)},
        "capture_files_mb": round(capture_bytes / MB, 1),
        "stop_exit": stopped.returncode,
        "run_exit": exit_code,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))
    print("\nstatus during the flood:\n" + status.stdout)
    if errors.tail:
        print("lightning-ctl run's stderr (last lines):\n" + "\n".join(errors.tail))
    grown = {role: r["peak"] - r["idle"] for role, r in result["rss_mb"].items() if role != "flood work"}
    ok = (
        console.count == args.lines
        and exit_code == 0
        and stopped.returncode == 0
        and all(g < MEMORY_BOUND_MB for g in grown.values())
    )
    print(
        f"\n{'OK' if ok else 'FAILED'}: {console.count}/{args.lines} lines on the console at "
        f"{result['console_lines_per_s']} lines/s; RSS growth over idle (MB): "
        + ", ".join(f"{k} {v:.0f}" for k, v in grown.items())
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
