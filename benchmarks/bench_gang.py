"""MultiNode gang figures (issue 14), through the real CLIs: from the flow's MultiNode call to every node inside
run(), and from a node's death to the gang running again.

    .venv/bin/python benchmarks/bench_gang.py [--repeat 5] [--nodes 2,4,8] [--only call,restart]

Each round starts ``lightning-ctl run --no-local-agent`` on a generated app and N ``lightning-agent`` processes on
loopback (one node per agent, as on N machines; each agent in its own session). Figures, as median (min-max) over
rounds, all read from the processes' own clocks on this one machine:

- call_cold (N): the flow calls ``MultiNode.run()`` once all N agents are connected and no node process exists:
  from that call to the last node entering ``run()`` (gang placement, N launches, N process starts, node 0's
  address reported, the N calls with the rendezvous);
- call_warm (N): the nodes were started with the app (``start_with_flow``) and the flow calls once every node
  reported its address: from the call to the last node entering ``run()``;
- restart (N): every node is inside ``run()``; node 1 is SIGKILLed; from the SIGKILL to the last node of the new
  generation entering ``run()`` (exit noticed, the other nodes stopped, the gang placed again, N new processes,
  the new rendezvous, the calls sent again).

Everything lives in a temporary folder removed at the end; every process started is killed at the end of its round.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, for tests.helpers

from tests.helpers import wait_until  # noqa: E402
from tests.helpers.agents import Cluster  # noqa: E402

TIMEOUT_S = 120.0

APP = '''
import json, os, time
from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork, RestartPolicy
from lightning_ctl.sdk.components import MultiNode

GO = os.environ["GANG_BENCH_GO"]
HOLD = os.environ.get("GANG_BENCH_HOLD", "")


class Node(LightningWork):
    def __init__(self, **kwargs):
        super().__init__(restart_policy=RestartPolicy.on_failure(max_restarts=1), **kwargs)

    def run(self, main_address, main_port, num_nodes, node_rank):
        print("IN_RUN " + json.dumps({{"rank": node_rank, "t": time.time(), "pid": os.getpid()}}), flush=True)
        while HOLD and not os.path.exists(HOLD):
            time.sleep(0.01)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.mn = MultiNode(Node, {nodes}, CloudCompute("cpu"), start_with_flow={warm})
        self.called_at = 0.0
        self.polls = 0

    def run(self):
        if not self.called_at:
            if not os.path.exists(GO) or ({warm} and not all(n.internal_ip for n in self.mn.ws)):
                self.polls += 1  # a flow changing its state runs again every 20 ms: it sees GO soon
                return
            self.called_at = time.time()
            print("CALLED " + json.dumps(self.called_at), flush=True)
        self.mn.run()
        if self.mn.has_succeeded:
            self.stop("done")


app = LightningApp(Root())
'''


def _in_run(lines: list[str]) -> list[dict]:
    return [json.loads(line.split("IN_RUN ", 1)[1]) for line in lines if "IN_RUN {" in line]


def run_once(folder: Path, nodes: int, warm: bool, restart: bool) -> float:
    """One round; its figure in seconds."""
    # The app's folder is what remote agents receive: it must not hold the agents' own folders.
    (folder / "app").mkdir()
    app = folder / "app" / "app.py"
    app.write_text(textwrap.dedent(APP.format(nodes=nodes, warm=warm)))
    go, hold = folder / "go", folder / "hold"
    env = {"GANG_BENCH_GO": str(go), **({"GANG_BENCH_HOLD": str(hold)} if restart else {})}
    cluster = Cluster(folder / "cluster")
    cluster.root.mkdir()
    try:
        args = [arg for name, value in env.items() for arg in ("--env", f"{name}={value}")]
        cp = cluster.control_plane(app, *args, env=env)
        for index in range(nodes):
            cluster.agent(f"a{index}", "--gpus", "none", "--cpus", "16")
        cp.wait_for("agent_connected", count=nodes, timeout_s=TIMEOUT_S)
        if warm:
            cp.wait_for("work_placed", count=nodes, timeout_s=TIMEOUT_S)
        go.touch()
        called = json.loads(cp.wait_for_line("CALLED ", timeout_s=TIMEOUT_S).split("CALLED ", 1)[1])
        first = _in_run(cp.wait_for("IN_RUN {", "stdout", timeout_s=TIMEOUT_S, count=nodes))
        if not restart:
            cp.wait(TIMEOUT_S)
            return max(node["t"] for node in first) - called
        victim = next(node["pid"] for node in first if node["rank"] == 1)
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)
        again = wait_until(lambda: (found := _in_run(cp.stdout_lines)) and len(found) >= 2 * nodes and found,
                           TIMEOUT_S, what="the new generation in run()")
        hold.touch()  # the new generation's nodes may leave run() now
        cp.wait(TIMEOUT_S)
        return max(node["t"] for node in again[nodes:]) - killed_at
    finally:
        for process in cluster.processes:
            process.kill_all()


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nodes", default="2,4,8")
    parser.add_argument("--only", default="cold,warm,restart")
    args = parser.parse_args()
    figures = {"cold": (False, False), "warm": (True, False), "restart": (True, True)}
    results: dict[str, list[float]] = {}
    for nodes in [int(n) for n in args.nodes.split(",")]:
        for name in args.only.split(","):
            warm, restart = figures[name]
            key = f"{'call_' if not restart else ''}{name} N={nodes}"
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory(prefix="bench-gang-") as folder:
                    results.setdefault(key, []).append(run_once(Path(folder), nodes, warm, restart))
            values = results[key]
            print(f"  {key:16s} median {statistics.median(values) * 1000:7.0f} ms  "
                  f"({min(values) * 1000:.0f}-{max(values) * 1000:.0f})  load average {os.getloadavg()[0]:.2f}",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
