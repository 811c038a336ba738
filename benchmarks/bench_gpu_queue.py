"""Three 1-GPU works on two 1-GPU agents (issue 8, point 1), through the real CLIs: wall time, and how soon a freed
GPU is used again.

    .venv/bin/python benchmarks/bench_gpu_queue.py [--repeat N] [--hold 1.0]

Each run starts ``lightning-ctl run --no-local-agent`` on a generated app and two ``lightning-agent`` processes as a
user would on one machine (``--gpus 0`` and ``--gpus 1``, no ``--name``, the default state folder of a temporary
HOME). The app's three parallel works each hold their GPU ``--hold`` seconds; the flow stops each work once it
succeeded (its process exits, freeing the GPU) and ends when all three ran. Printed, as medians (min-max):

- wall: from starting ``lightning-ctl run`` to its exit (agents start right after it; their start-up is included);
- gpu_free_to_spawn: from the first work process's exit (the agent's ``work_process_exited`` line) to the agent's
  ``work_process_spawned`` line of the third work;
- gpu_free_to_run: from that exit to the third work entering ``run()`` (its own clock, same machine).

Everything lives in a temporary folder removed at the end; every process started is killed if it outlives its run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path

sys.dont_write_bytecode = True

import psutil  # noqa: E402 - after the bytecode switch

BIN = Path(sys.executable).parent
TIMEOUT_S = 60.0

APP = '''
import json, os, time
from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork


class Gpu(LightningWork):
    def __init__(self):
        super().__init__(parallel=True, cloud_compute=CloudCompute("gpu"))
        self.started = 0.0

    def run(self):
        self.started = time.time()
        print("RUN " + json.dumps({{"cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "t": self.started}}), flush=True)
        time.sleep({hold})


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.one, self.two, self.three = Gpu(), Gpu(), Gpu()

    def run(self):
        works = (self.one, self.two, self.three)
        for work in works:
            work.run()
            if work.has_succeeded and not work.has_stopped:
                work.stop()
        if all(work.has_stopped for work in works):
            print("STARTS " + json.dumps(sorted(work.started for work in works)), flush=True)
            self.stop("done")


app = LightningApp(Root())
'''


def _log_time(line: str) -> float:
    """The epoch time of a structlog console line (ISO UTC timestamp first)."""
    return datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()


def _kill_tree(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        try:
            tree = [process.pid, *(p.pid for p in psutil.Process(process.pid).children(recursive=True))]
        except psutil.NoSuchProcess:
            tree = [process.pid]
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def run_once(folder: Path, hold_s: float) -> dict[str, float]:
    """One run of the app with two agents: its figures in seconds."""
    home = folder / "home"
    home.mkdir(exist_ok=True)
    app = folder / "app.py"
    app.write_text(textwrap.dedent(APP.format(hold=hold_s)))
    env = {**os.environ, "HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1", "LIGHTNING_CTL_TOKEN": "bench-token",
           "LIGHTNING_AGENT_JOIN_TOKEN": "bench-join-token-0123456789"}
    logs = {name: folder / f"{name}.log" for name in ("cp", "cp-out", "a", "b")}
    started = time.time()
    cp = subprocess.Popen([str(BIN / "lightning-ctl"), "run", str(app), "--no-local-agent", "--port", "0",
                           "--token", "bench-token", "--join-token", "bench-join-token-0123456789", "--log-level", "info",
                           "--stop-grace", "2"],
                          stdout=logs["cp-out"].open("w"), stderr=logs["cp"].open("w"), env=env, cwd=folder,
                          start_new_session=True)
    processes = [cp]
    try:
        deadline = time.monotonic() + TIMEOUT_S
        address = ""
        while not address and time.monotonic() < deadline:
            address = next((part.split("=", 1)[1] for line in logs["cp"].read_text().splitlines()
                            if "control_plane_listening" in line for part in line.split()
                            if part.startswith("address=")), "")
            time.sleep(0.02)
        for name, gpu in (("a", "0"), ("b", "1")):
            processes.append(subprocess.Popen(
                [str(BIN / "lightning-agent"), "--control-plane", address, "--gpus", gpu, "--log-level", "info"],
                stdout=subprocess.DEVNULL, stderr=logs[name].open("w"), env=env, cwd=folder, start_new_session=True))
        code = cp.wait(timeout=max(1.0, deadline - time.monotonic()))
        wall = time.time() - started
    finally:
        _kill_tree(processes)
    if code != 0:
        raise RuntimeError(f"the app exited {code}:\n{logs['cp'].read_text()}")
    agent_lines = [line for name in ("a", "b") for line in logs[name].read_text().splitlines()]
    exits = sorted(_log_time(line) for line in agent_lines if "work_process_exited" in line)
    spawns = sorted(_log_time(line) for line in agent_lines if "work_process_spawned" in line)
    run_starts = next(json.loads(line.split(" ", 1)[1]) for line in logs["cp-out"].read_text().splitlines()
                      if line.startswith("STARTS "))
    return {"wall": wall, "gpu_free_to_spawn": spawns[2] - exits[0], "gpu_free_to_run": run_starts[2] - exits[0]}


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--hold", type=float, default=1.0, help="seconds each work holds its GPU")
    args = parser.parse_args()
    results = []
    for index in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="bench-gpu-queue-") as folder:
            results.append(run_once(Path(folder), args.hold))
        print(f"run {index + 1}: " + "  ".join(f"{k}={v:.3f}s" for k, v in results[-1].items()), flush=True)
    print(f"\nthree 1-GPU works on two 1-GPU agents, hold {args.hold:g}s, {args.repeat} runs, "
          f"load average {os.getloadavg()[0]:.2f}")
    for key in results[0]:
        values = [r[key] for r in results]
        print(f"  {key:18s} median {statistics.median(values):.3f}s  ({min(values):.3f}-{max(values):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
