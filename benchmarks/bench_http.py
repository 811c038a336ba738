"""Latency of the app's HTTP server: REST reads, configure_api round trips, and state changes pushed to a browser.

    .venv/bin/python benchmarks/bench_http.py [--requests 2000] [--pushes 100] [--works 0] [--no-browser]

A generated app (in a temporary folder, with its own HOME) has a counter, a ``configure_api`` handler that bumps it
(``POST /api/v1/bump``, run on the flow thread between ticks) and ``--works`` works that are declared but never
started (they weigh the state and the view as 500 works would, without 500 processes on a 2-core machine). The script starts ``lightning-ctl run APP --http-port 0`` (the real CLI) and measures, over one keep-alive
connection with the operator's token:

- ``GET /api/v1/state``: p50/p99 of the full round trip (client send to last byte read);
- ``POST /api/v1/bump``: the same for a configure_api handler (asyncio thread -> flow thread -> back);
- push to an SSE client: from sending ``POST /api/v1/bump`` to reading the ``/api/v1/events`` patch carrying the
  new counter value;
- push to a browser (headless Chromium, unless ``--no-browser`` or it is missing): the page itself POSTs the bump
  and times, with ``performance.now()``, until its EventSource delivers the patch;
- page weight: the bytes of /view, view.js and view.css as served.

Prints medians and p99 with the load average. Everything it starts is killed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
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
from urllib.parse import urlsplit

APP = '''
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork, Post


class Idle(LightningWork):
    def __init__(self):
        super().__init__(parallel=True, start_with_flow=False)
        self.value = 0

    def run(self):
        pass


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.counter = 0
        for index in range({works}):
            setattr(self, f"w{{index}}", Idle())

    def run(self):
        pass

    def bump(self) -> int:
        self.counter += 1
        return self.counter

    def configure_api(self):
        return [Post("/api/v1/bump", self.bump)]


app = LightningApp(Root())
'''


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(name: str, samples_s: list[float]) -> None:
    ms = [s * 1000 for s in samples_s]
    print(f"{name:<44} n={len(ms):<5} p50={percentile(ms, 0.5):7.3f} ms  p99={percentile(ms, 0.99):7.3f} ms")


class Client:
    """One keep-alive HTTP connection with the token."""

    def __init__(self, url: str, token: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str) -> bytes:
        self.conn.request(method, path, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {body[:200]!r}")
        return body


def time_calls(client: Client, method: str, path: str, count: int) -> list[float]:
    for _ in range(min(100, count)):
        client.call(method, path)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        client.call(method, path)
        samples.append(time.perf_counter() - start)
    return samples


def sse_push(url: str, token: str, client: Client, count: int) -> list[float]:
    """Time from POST /api/v1/bump to the SSE patch carrying the new counter."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port))
    sock.sendall(f"GET /api/v1/events HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n\r\n"
                 .encode())
    reader = sock.makefile("rb")
    seen: dict[int, float] = {}
    ready = threading.Event()

    def read() -> None:
        for raw in reader:
            line = raw.decode()
            if line.startswith("data: "):
                data = json.loads(line[6:])
                ready.set()
                for op in data.get("ops", []):
                    if op[0] == ["state", "vars", "counter"]:
                        seen[op[1]] = time.perf_counter()

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    ready.wait(30)
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        value = int(client.call("POST", "/api/v1/bump"))
        deadline = time.monotonic() + 10
        while value not in seen and time.monotonic() < deadline:
            time.sleep(0.0002)
        if value in seen:
            samples.append(seen[value] - start)
        time.sleep(0.05)  # let the hub's coalescing window pass: each bump is a fresh change
    sock.close()
    return samples


BROWSER_JS = """async (count) => {
  const arrived = new Map();
  let wake = null;
  const source = new EventSource("/api/v1/events");
  source.addEventListener("patch", (e) => {
    for (const [path, value] of JSON.parse(e.data).ops) {
      if (path.join(".") === "state.vars.counter") { arrived.set(value, performance.now()); if (wake) wake(); }
    }
  });
  await new Promise((resolve) => source.addEventListener("snapshot", resolve, { once: true }));
  const samples = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const value = await (await fetch("/api/v1/bump", { method: "POST" })).json();
    const deadline = start + 10000;
    while (!arrived.has(value) && performance.now() < deadline) {
      await new Promise((r) => { wake = r; setTimeout(r, 100); });
    }
    if (arrived.has(value)) samples.push(arrived.get(value) - start);
    await new Promise((r) => setTimeout(r, 50));
  }
  source.close();
  return samples;
}"""


def browser_push(login_url: str, count: int) -> list[float] | None:
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if chromium is None:
        return None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(login_url)
        samples = page.evaluate(BROWSER_JS, count)
        browser.close()
    return [s / 1000 for s in samples]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--pushes", type=int, default=100)
    parser.add_argument("--works", type=int, default=0)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-http-"))
    (folder / "app.py").write_text(textwrap.dedent(APP.format(works=args.works)))
    (folder / "home").mkdir()
    ctl = str(Path(sys.executable).parent / "lightning-ctl")
    process = subprocess.Popen([ctl, "run", "app.py", "--http-port", "0", "--log-level", "warning"], cwd=folder,
                               env={**os.environ, "HOME": str(folder / "home")}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        login = None
        deadline = time.monotonic() + 60
        while login is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            found = re.search(r"(https?://\S+/view\?token=\S+)", line)
            login = found.group(1) if found else None
        if login is None:
            print("the app did not start", file=sys.stderr)
            return 1
        run = json.loads((folder / "home" / ".lightning-ctl" / "run.json").read_text())
        url, token = run["http_url"], run["token"]
        client = Client(url, token)
        state_bytes = len(client.call("GET", "/api/v1/state"))
        print(f"lightning-ctl HTTP benchmark: {args.works} works, state {state_bytes} bytes, "
              f"load average before {os.getloadavg()[0]:.2f}")
        report("GET /api/v1/state", time_calls(client, "GET", "/api/v1/state", args.requests))
        report("POST /api/v1/bump (configure_api handler)", time_calls(client, "POST", "/api/v1/bump", args.requests))
        report("push: change -> SSE client", sse_push(url, token, client, args.pushes))
        weight = sum(len(client.call("GET", path)) for path in ("/view", "/view/view.js", "/view/view.css"))
        print(f"{'page weight (/view + view.js + view.css)':<44} {weight} bytes ({weight / 1024:.1f} KiB, "
              "uncompressed, no other request)")
        if not args.no_browser:
            link = json.loads(client.call("POST", "/api/v1/login-links"))["url"]
            result = browser_push(link, args.pushes)
            if result is None:
                print("push to a browser: skipped (no chromium or no playwright)")
            else:
                report("push: change -> browser (Chromium)", result)
        print(f"load average after {os.getloadavg()[0]:.2f}")
        return 0
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
