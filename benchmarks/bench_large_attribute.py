"""What a large (but allowed) attribute costs while it does not change, per process, through the real CLIs.

    .venv/bin/python benchmarks/bench_large_attribute.py [--mib 50] [--kind str|list] [--hold 15] [--repeat 3]

A generated app's work sets one attribute to a ``--mib`` MiB value (a string, or a list of 1 KB strings), then
holds it unchanged for ``--hold`` seconds, then ends. During the hold, the script samples the CPU time of each
process of the app (control plane, agent, work) and prints the share of one core each used, as the median
(min-max) over ``--repeat`` runs, and the load average. A process that keeps re-encoding, re-sending or
re-checkpointing the unchanged value shows up here. Run with ``--max-attribute-size 64Mi`` so 50 MiB is allowed.

Everything lives in a temporary HOME removed at the end; every process started is killed if it outlives the run.
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
import time
from pathlib import Path

sys.dont_write_bytecode = True

import psutil  # noqa: E402

BIN = Path(sys.executable).parent
LIGHTNING_CTL = str(BIN / "lightning-ctl")

APP = """
import time
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

class Holder(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.value = None
        self.ready = False

    def run(self):
        self.value = {value}
        self.ready = True
        print("HOLDING", flush=True)
        time.sleep({hold})

class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Holder()

    def run(self):
        self.w.run()
        if self.w.has_succeeded:
            self.stop()

app = LightningApp(Root())
"""


def role(process: psutil.Process, control_plane_pid: int) -> str:
    """What one process of the app is."""
    if process.pid == control_plane_pid:
        return "control plane"
    command = " ".join(process.cmdline())
    if "runner.zygote" in command:  # works forked from it share its command line
        parent = process.parent()
        return "work" if parent is not None and "runner.zygote" in " ".join(parent.cmdline()) else "fork server"
    if "lightning_ctl.agent" in command and "runner" not in command:
        return "agent"
    return "work"


def one_run(mib: int, kind: str, hold_s: float, folder: Path) -> dict[str, float]:
    """Run the app once; the share of one core each role used during the hold."""
    value = f'"x" * {mib * 2**20}' if kind == "str" else f'["y" * 1000] * {mib * 2**20 // 1004}'
    app = folder / "large_attribute.py"
    app.write_text(textwrap.dedent(APP.format(value=value, hold=hold_s)))
    env = {**os.environ, "HOME": str(folder), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("LIGHTNING_CTL_TOKEN", None)
    proc = subprocess.Popen([LIGHTNING_CTL, "run", str(app), "--max-attribute-size", "64Mi", "--log-level",
                             "warning"], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True, text=True)
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if "HOLDING" in line:
                break
        time.sleep(1.0)  # let the value's one-time transfer settle: what follows is the steady cost
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        start = {p.pid: sum(p.cpu_times()[:2]) for p in tree}
        began = time.monotonic()
        time.sleep(max(hold_s - 3.0, 1.0))
        elapsed = time.monotonic() - began
        used: dict[str, float] = {}
        for p in tree:
            try:
                share = (sum(p.cpu_times()[:2]) - start[p.pid]) / elapsed
                used[role(p, proc.pid)] = used.get(role(p, proc.pid), 0.0) + share
            except psutil.Error:
                pass
        proc.wait(hold_s + 60)
        return used
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main() -> int:
    """Measure and print; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=50)
    parser.add_argument("--kind", choices=["str", "list"], default="str")
    parser.add_argument("--hold", type=float, default=15.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = []
    for _ in range(args.repeat):
        folder = Path(tempfile.mkdtemp(prefix="lctl-bench-large-"))
        try:
            runs.append(one_run(args.mib, args.kind, args.hold, folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.mib} MiB {args.kind} attribute held unchanged for ~{args.hold:g} s, {args.repeat} runs; "
          f"load average {os.getloadavg()[0]:.2f}")
    for name in ("control plane", "agent", "fork server", "work"):
        shares = [run.get(name, 0.0) * 100 for run in runs]
        print(f"  {name:14s} {statistics.median(shares):6.1f} % of a core (min {min(shares):.1f}, "
              f"max {max(shares):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
