"""What checkpointing a large, changing state costs, and how long a resume takes, through the real CLI.

    .venv/bin/python benchmarks/bench_checkpoint.py [--mib 100] [--rate 10] [--where flow|work|both] [--hold 10]
                                                    [--repeat 3]

A generated app holds ``--mib`` MiB of state that does not change (in the root flow's attributes, in a work's, or
half in each: ``--where``) next to a counter that does: its work increments it ``--rate`` times a second, and the
flow copies it into its own state on every run. Over a ``--hold`` second window of that steady state the script
measures (after ``--settle`` seconds for the one-time transfers and the first full checkpoint) the control plane's
share of a core, as the mean and the median of one-second samples, and what it wrote to disk per second (``/proc/<pid>/io``: the
checkpoint's SQLite writes). Then it SIGKILLs the control plane, runs the same command again, and measures the
restart-to-resumed time: from the new ``lightning-ctl run`` to the flow's first run in the new process
(``RESUMED``), and to the first counter change from the re-attached work seen by the flow (``ATTACHED``). Medians
(min-max) over ``--repeat`` runs, and the load average.

Issue 15 reuses it: ``--mib 100 --rate 10`` is its "state of 100 MB changing 10 times/s". Everything lives in a
temporary HOME removed at the end; every process started is killed (by process group) at the end of its run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import psutil

LIGHTNING_CTL = str(Path(sys.executable).parent / "lightning-ctl")

APP = """
import os, time
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

FLOW_BYTES, WORK_BYTES, PERIOD_S = {flow_bytes}, {work_bytes}, {period_s}
STOP = {stop!r}
_BOOT = {{"seen": False, "count": None}}


class Ticker(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.blob = ""
        self.count = 0

    def run(self):
        if WORK_BYTES and len(self.blob) != WORK_BYTES:
            self.blob = "w" * WORK_BYTES
        while not os.path.exists(STOP):
            time.sleep(PERIOD_S)
            self.count += 1


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.ticker = Ticker()
        self.blob = ["f" * 2**20 for _ in range(FLOW_BYTES // 2**20)]
        self.seen = 0

    def run(self):
        self.ticker.run()
        if not _BOOT["seen"]:
            _BOOT["seen"], _BOOT["count"] = True, self.ticker.count
            print("RESUMED", flush=True)
        elif _BOOT["count"] is not None and self.ticker.count != _BOOT["count"]:
            _BOOT["count"] = None
            print("ATTACHED", flush=True)
        self.seen = self.ticker.count


app = LightningApp(Root())
"""


class Run:
    """One ``lightning-ctl run`` of the generated app, its stdout lines collected."""

    def __init__(self, app: Path, folder: Path, mib: int) -> None:
        env = {**os.environ, "HOME": str(folder), "PYTHONDONTWRITEBYTECODE": "1"}
        env.pop("LIGHTNING_CTL_TOKEN", None)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [LIGHTNING_CTL, "run", str(app), "--max-attribute-size", f"{max(64, mib + 16)}Mi", "--log-level",
             "warning", "--stop-grace", "2"], cwd=folder, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, start_new_session=True, text=True)
        self.lines: dict[str, float] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.setdefault(line.strip(), time.monotonic())

    def wait_line(self, text: str, timeout_s: float) -> float:
        """Seconds from the start to the first line ``text`` (fails after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while text not in self.lines:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"no {text} line within {timeout_s:g} s (exit {self.proc.poll()})")
            time.sleep(0.01)
        return self.lines[text] - self.started


def _io_written(process: psutil.Process) -> int:
    """Bytes the process had written to storage (0 where /proc/<pid>/io is not readable)."""
    try:
        return process.io_counters().write_bytes
    except (psutil.Error, AttributeError):
        return 0


def one_run(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    """Steady-state cost, then kill and resume; the figures of this run."""
    total = args.mib * 2**20
    flow_bytes = {"flow": total, "work": 0, "both": total // 2}[args.where]
    stop = folder / "stop"
    app = folder / "large_state.py"
    app.write_text(textwrap.dedent(APP.format(flow_bytes=flow_bytes, work_bytes=total - flow_bytes,
                                              period_s=1.0 / args.rate, stop=str(stop))))
    runs = [Run(app, folder, args.mib)]
    try:
        runs[0].wait_line("ATTACHED", 120)  # (on the first run: the counter started)
        time.sleep(args.settle)  # the work's one-time transfer of its value and the first full checkpoint
        control_plane = psutil.Process(runs[0].proc.pid)
        cpu, written = [], []
        last = (sum(control_plane.cpu_times()[:2]), _io_written(control_plane), time.monotonic())
        for _ in range(max(1, round(args.hold))):
            time.sleep(1.0)
            now = (sum(control_plane.cpu_times()[:2]), _io_written(control_plane), time.monotonic())
            cpu.append((now[0] - last[0]) / (now[2] - last[2]))
            written.append((now[1] - last[1]) / (now[2] - last[2]) / 2**20)
            last = now
        figures = {"cpu_share": statistics.mean(cpu), "cpu_share_median_s": statistics.median(cpu),
                   "written_mib_per_s": statistics.mean(written)}
        os.kill(runs[0].proc.pid, signal.SIGKILL)
        runs[0].proc.wait(10)
        runs.append(Run(app, folder, args.mib))
        figures["resumed_s"] = runs[1].wait_line("RESUMED", 120)
        figures["attached_s"] = runs[1].wait_line("ATTACHED", 120)
        checkpoint = next(folder.glob(".lightning-ctl/apps/*/checkpoint.sqlite"))
        figures["checkpoint_mib"] = sum(p.stat().st_size for p in checkpoint.parent.glob("checkpoint.sqlite*")) / 2**20
        stop.touch()
        return figures
    finally:
        for run in runs:
            try:
                os.killpg(run.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _kill_left_over(folder)


def _kill_left_over(folder: Path) -> None:
    """The local agent and works live in sessions of their own: kill those of this run's HOME."""
    for process in psutil.process_iter(["pid"]):
        try:
            if process.environ().get("HOME") == str(folder):
                process.kill()
        except psutil.Error:
            continue


def _summary(values: list[float], unit: str, scale: float = 1.0) -> str:
    scaled = [v * scale for v in values]
    return f"{statistics.median(scaled):8.2f} {unit} (min {min(scaled):.2f}, max {max(scaled):.2f})"


def main() -> int:
    """Measure and print; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="counter changes per second")
    parser.add_argument("--where", choices=["flow", "work", "both"], default="both")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds of steady state measured")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds let pass before measuring")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        folder = Path(tempfile.mkdtemp(prefix="lctl-bench-checkpoint-"))
        try:
            runs.append(one_run(args, folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.mib} MiB of state ({args.where}) with a counter changing {args.rate:g} times/s, {args.repeat} runs; "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"  control plane CPU (mean)   {_summary([r['cpu_share'] for r in runs], '% of a core', 100)}")
    print(f"  control plane CPU (median second) "
          f"{_summary([r['cpu_share_median_s'] for r in runs], '% of a core', 100)}")
    print(f"  written to disk            {_summary([r['written_mib_per_s'] for r in runs], 'MiB/s')}")
    print(f"  checkpoint files           {_summary([r['checkpoint_mib'] for r in runs], 'MiB')}")
    print(f"  rerun to first flow run    {_summary([r['resumed_s'] for r in runs], 's')}")
    print(f"  rerun to work re-attached  {_summary([r['attached_s'] for r in runs], 's')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
