"""Files between works on two agents: throughput of a big file, memory while it moves, latency of a small one.

    .venv/bin/python benchmarks/bench_storage.py [--repeat 3] [--bytes 1073741824] [--small-rounds 20]

A generated app (in a temporary folder) runs a producer on agent a and a consumer on agent b (``lightning-agent``
processes with their own work folders, joined to ``lightning-ctl run --no-local-agent``; labels force the placement):

1. big file: the producer writes ``--bytes`` (1 GiB; random blocks in a sparse file) and hands it to the consumer as a
   ``run()`` argument. Measured: *persist* (the producer's ``run()`` returned -> its call succeeded: hashing,
   uploading and verifying it in the store), *get* (the call succeeded -> the consumer's ``run()`` started:
   resolving, downloading and verifying it), their sum as a throughput, and the same file copied with ``cp`` on the
   same disk (its ratio). Peak RSS of the control plane and both agents (sampled every 20 ms) during the run.
2. small file: ``--small-rounds`` times a new 1 KB file made by the producer is got by the consumer: the time from the
   producer's ``run()`` returning to the consumer's ``run()`` starting (call to call, persist and get included).

Each figure is the median (min-max) over ``--repeat`` runs; the load average is printed (the machine is shared).
Everything started is killed at the end, and the temporary folder removed.
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
import textwrap
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for tests.helpers

from tests.helpers.agents import Cluster  # noqa: E402 - once sys.path holds the repository
from tests.helpers.memory import PeakRss  # noqa: E402

APP = textwrap.dedent('''
    """A producer on agent a hands files to a consumer on agent b; the flow reports the times."""

    import json
    import os
    import sys
    import time

    from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork, Path

    BIG = int(os.environ["BENCH_BYTES"])
    ROUNDS = int(os.environ["BENCH_SMALL_ROUNDS"])


    class Producer(LightningWork):
        def __init__(self):
            super().__init__(cloud_compute=CloudCompute(labels={"side": "a"}))
            self.made = None
            self.returned_at = 0.0

        def run(self, size, name):
            with open(name, "wb") as file:
                file.truncate(size)
                for offset in range(0, size, 64 << 20):
                    file.seek(offset)
                    file.write(os.urandom(min(1 << 20, size - offset)))
            self.made = Path(name)
            self.returned_at = time.time()


    class Consumer(LightningWork):
        def __init__(self):
            super().__init__(cloud_compute=CloudCompute(labels={"side": "b"}))
            self.started_at = 0.0
            self.size = 0

        def run(self, made):
            self.started_at = time.time()
            self.size = os.path.getsize(made)


    class Root(LightningFlow):
        def __init__(self):
            super().__init__()
            self.producer = Producer()
            self.consumer = Consumer()
            self.round = 0
            self.times = []

        def run(self):
            size, name = (BIG, "big.bin") if self.round == 0 else (1024, f"small-{self.round}.bin")
            self.producer.run(size, name)
            self.consumer.run(self.producer.made)
            self.times.append({"returned": self.producer.returned_at, "succeeded": self.producer.status.timestamp,
                               "started": self.consumer.started_at, "size": self.consumer.size})
            self.round += 1
            if self.round > ROUNDS:
                sys.stdout.write("TIMES " + json.dumps(self.times) + "\\n")
                sys.stdout.flush()
                self.stop()


    app = LightningApp(Root())
''')


def one_run(folder: Path, size: int, rounds: int) -> dict:
    """Run the app once; its figures."""
    cluster = Cluster(folder / "cluster")
    (folder / "cluster").mkdir()
    try:
        cp = cluster.control_plane(folder / "app.py", "--env", f"BENCH_BYTES={size}", "--env",
                                   f"BENCH_SMALL_ROUNDS={rounds}")
        a = cluster.agent("a", "--labels", "side=a", "--gpus", "none", "--cpus", "16")
        b = cluster.agent("b", "--labels", "side=b", "--gpus", "none", "--cpus", "16")
        peaks = PeakRss({"control plane": cp.pid, "agent a": a.pid, "agent b": b.pid})
        run = cluster.wait_app(600)
        rss = peaks.stop()
        if run.exit_code != 0:
            raise RuntimeError(f"the app failed ({run.exit_code})\n{cluster.output()}")
        line = next(line for line in run.stdout.splitlines() if line.startswith("TIMES "))
        times = json.loads(line[len("TIMES "):])
        big = times[0]
        if big["size"] != size:
            raise RuntimeError(f"the consumer got {big['size']} bytes, not {size}")
        big_file = next(a.work_dir.rglob("big.bin"))
        started = time.perf_counter()
        subprocess.run(["cp", "--sparse=never", str(big_file), str(folder / "copied.bin")], check=True)
        cp_s = time.perf_counter() - started
        os.unlink(folder / "copied.bin")
        return {
            "persist_s": big["succeeded"] - big["returned"],
            "get_s": big["started"] - big["succeeded"],
            "total_s": big["started"] - big["returned"],
            "cp_s": cp_s,
            "rss": rss,
            "small_ms": [(t["started"] - t["returned"]) * 1000 for t in times[1:]],
        }
    finally:
        cluster.close()
        shutil.rmtree(folder / "cluster", ignore_errors=True)


def spread(values: list[float], unit: str = "", digits: int = 2) -> str:
    return (f"{statistics.median(values):.{digits}f}{unit} ({min(values):.{digits}f}-{max(values):.{digits}f})"
            if values else "-")


def main() -> int:
    """Run the benchmark; 0 when every run completed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--bytes", type=int, default=1 << 30)
    parser.add_argument("--small-rounds", type=int, default=20)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    try:
        (folder / "app.py").write_text(APP)
        runs = []
        for index in range(args.repeat):
            runs.append(one_run(folder, args.bytes, args.small_rounds))
            print(f"run {index + 1}/{args.repeat}: total {runs[-1]['total_s']:.2f}s, cp {runs[-1]['cp_s']:.2f}s",
                  file=sys.stderr)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    mib = args.bytes / 2**20
    total = [r["total_s"] for r in runs]
    cp_s = [r["cp_s"] for r in runs]
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    print(f"big file: {mib:.0f} MiB from agent a to agent b through the control plane, {args.repeat} runs")
    print(f"  persist (hash, upload, verify)     {spread([r['persist_s'] for r in runs], ' s')}")
    print(f"  get (resolve, download, verify)    {spread([r['get_s'] for r in runs], ' s')}")
    print(f"  total                              {spread(total, ' s')}  = "
          f"{spread([mib / t for t in total], ' MiB/s', 0)}")
    print(f"  cp of the same file, same disk     {spread(cp_s, ' s')}  = {spread([mib / t for t in cp_s], ' MiB/s', 0)}")
    print(f"  ratio (total / cp)                 {spread([t / c for t, c in zip(total, cp_s, strict=True)], 'x', 1)}")
    for name in runs[0]["rss"]:
        print(f"  peak RSS {name:<25} {spread([r['rss'][name] / 2**20 for r in runs], ' MiB', 0)}")
    small = [ms for r in runs for ms in r["small_ms"]]
    print(f"small file: 1 KB Path, producer's run() returned -> consumer's run() started, {len(small)} rounds")
    print(f"  {spread(small, ' ms', 1)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
