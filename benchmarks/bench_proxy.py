"""What the control plane's proxy (``/works/<name>/``) costs, next to reaching the work's server directly.

    .venv/bin/python benchmarks/bench_proxy.py [--requests 2000] [--repeat 3] [--stream-mb 1024] [--mode both]

A generated app (temporary folder, its own HOME) has one work serving with aiohttp: ``GET /json`` (a small JSON
answer) and ``GET /big?mb=N`` (N MiB streamed in 1 MiB chunks). It runs through the real CLI in two set-ups:

- ``local``: ``lightning-ctl run`` with its local agent: the proxy connects to the work's port directly;
- ``remote``: ``lightning-ctl run --no-local-agent`` and one ``lightning-agent``: the proxy reaches the work
  through the Tunnel stream its agent opens (as for any agent on another machine).

For each, over one keep-alive connection with the operator's token, ``--requests`` sequential ``GET /json``
directly (the work's url) and through the proxy: requests/s and p50/p99 latency (the median of ``--repeat`` runs);
then 8 connections in parallel (threads) for requests/s under concurrency; then ``--stream-mb`` MiB streamed
through the proxy while the control plane's RSS is sampled (before, peak, and the throughput), and the same
download direct for comparison. Prints the load average. Everything it starts is killed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import psutil

BIN = Path(sys.executable).parent
APP = '''
import json
from aiohttp import web
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Server(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)

    def run(self):
        app = web.Application()
        app.router.add_get("/json", lambda request: web.json_response({"ok": True, "n": 1}))
        app.router.add_get("/big", self.big)
        web.run_app(app, host=self.host, port=self.port, handle_signals=False, print=None, access_log=None)

    async def big(self, request):
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = bytes(1 << 20)
        for _ in range(int(request.query["mb"])):
            await response.write(chunk)
        await response.write_eof()
        return response


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.server = Server()
        self.said = False

    def run(self):
        self.server.run()
        if self.server.url and not self.said:
            self.said = True
            print("SERVING " + json.dumps({"url": self.server.url}), flush=True)


app = LightningApp(Root())
'''


class Setup:
    """One running app (and its agent in the remote set-up)."""

    def __init__(self, mode: str, root: Path) -> None:
        self.mode = mode
        self.home = root / f"home-{mode}"
        self.home.mkdir()
        (root / "app.py").write_text(textwrap.dedent(APP))
        self.token = secrets.token_urlsafe(24)
        join = secrets.token_urlsafe(24)
        env = {**os.environ, "HOME": str(self.home), "PYTHONDONTWRITEBYTECODE": "1"}
        args = [str(BIN / "lightning-ctl"), "run", str(root / "app.py"), "--http-port", "0", "--port", "0",
                "--token", self.token, "--join-token", join, "--log-level", "warning", "--stop-grace", "2"]
        if mode == "remote":
            args.append("--no-local-agent")
        self.processes = [subprocess.Popen(args, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                           start_new_session=True)]
        self.control_plane = psutil.Process(self.processes[0].pid)
        run = self._run_file()
        if mode == "remote":
            grpc_address = run["address"]
            self.processes.append(subprocess.Popen(
                [str(BIN / "lightning-agent"), "--control-plane", grpc_address, "--join-token", join, "--name", "bench",
                 "--state-dir", str(root / "agent-state"), "--work-dir", str(root / "agent-work"),
                 "--log-level", "warning"],
                cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        self.http_url = run["http_url"]
        self.work_url = self._serving_url()

    def _run_file(self) -> dict:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                run = json.loads((self.home / ".lightning-ctl" / "run.json").read_text())
                if run.get("http_url"):
                    return run
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise SystemExit("the app did not write its run file")

    def _serving_url(self) -> str:
        stdout = self.processes[0].stdout
        assert stdout is not None
        for raw in iter(stdout.readline, b""):
            line = raw.decode()
            if line.startswith("SERVING "):
                return json.loads(line[len("SERVING "):])["url"]
        raise SystemExit("the app ended before its work served")

    def close(self) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()


def connection(url: str) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=60), parts.path.rstrip("/")


def sequential(url: str, path: str, requests: int, token: str) -> tuple[float, float, float]:
    """requests/s, p50 and p99 (ms) of ``requests`` sequential GETs on one keep-alive connection."""
    conn, base = connection(url)
    headers = {"Authorization": f"Bearer {token}"}
    samples = []
    started = time.perf_counter()
    for _ in range(requests):
        t0 = time.perf_counter()
        conn.request("GET", base + path, headers=headers)
        response = conn.getresponse()
        response.read()
        samples.append(time.perf_counter() - t0)
        assert response.status == 200, response.status
    elapsed = time.perf_counter() - started
    conn.close()
    samples.sort()
    return requests / elapsed, samples[len(samples) // 2] * 1e3, samples[int(len(samples) * 0.99)] * 1e3


def concurrent(url: str, path: str, requests: int, token: str, threads: int = 8) -> float:
    """requests/s of ``requests`` GETs over ``threads`` keep-alive connections at once."""
    per_thread = requests // threads

    def worker() -> None:
        conn, base = connection(url)
        for _ in range(per_thread):
            conn.request("GET", base + path, headers={"Authorization": f"Bearer {token}"})
            conn.getresponse().read()
        conn.close()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return per_thread * threads / (time.perf_counter() - started)


def stream(url: str, megabytes: int, token: str, watched: psutil.Process) -> tuple[float, int, int]:
    """MB/s of a ``megabytes`` MiB download, and the watched process's RSS before and at its peak (bytes)."""
    conn, base = connection(url)
    before = peak = watched.memory_info().rss
    conn.request("GET", f"{base}/big?mb={megabytes}", headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    received = 0
    started = time.perf_counter()
    while chunk := response.read(1 << 20):
        received += len(chunk)
        peak = max(peak, watched.memory_info().rss)
    elapsed = time.perf_counter() - started
    conn.close()
    assert received == megabytes << 20, received
    return received / elapsed / 1e6, before, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stream-mb", type=int, default=1024)
    parser.add_argument("--mode", choices=["local", "remote", "both"], default="both")
    args = parser.parse_args()
    modes = ["local", "remote"] if args.mode == "both" else [args.mode]
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for mode in modes:
        with tempfile.TemporaryDirectory(prefix="bench-proxy-") as folder:
            setup = Setup(mode, Path(folder))
            try:
                proxied = f"{setup.http_url}/works/root.server"
                for name, url in (("direct ", setup.work_url), ("proxied", proxied)):
                    sequential(url, "/json", 200, setup.token)  # warm-up
                    runs = [sequential(url, "/json", args.requests, setup.token) for _ in range(args.repeat)]
                    rps = statistics.median(r[0] for r in runs)
                    p50 = statistics.median(r[1] for r in runs)
                    p99 = statistics.median(r[2] for r in runs)
                    parallel = statistics.median(concurrent(url, "/json", args.requests, setup.token)
                                                 for _ in range(args.repeat))
                    print(f"{mode:6} {name} GET /json: {rps:7.0f} req/s sequential (p50 {p50:.2f} ms, p99 {p99:.2f} "
                          f"ms), {parallel:7.0f} req/s over 8 connections")
                mb_s, before, peak = stream(proxied, args.stream_mb, setup.token, setup.control_plane)
                print(f"{mode:6} proxied {args.stream_mb} MiB: {mb_s:.0f} MB/s; control plane RSS {before / 2**20:.0f}"
                      f" MiB before, {peak / 2**20:.0f} MiB at peak (+{(peak - before) / 2**20:.1f} MiB)")
                mb_s, _, _ = stream(setup.work_url, args.stream_mb, setup.token, setup.control_plane)
                print(f"{mode:6} direct  {args.stream_mb} MiB: {mb_s:.0f} MB/s")
            finally:
                setup.close()
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
