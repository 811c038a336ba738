"""Why the control plane's HTTP server is aiohttp: latency and weight of the candidate stacks, side by side.

    .venv/bin/python benchmarks/bench_http_stacks.py [--requests 3000] [--repeat 3]

For each candidate that runs on an asyncio loop (aiohttp; Starlette on uvicorn; FastAPI on uvicorn), the script
makes a throwaway virtual environment in a temporary folder, installs the stack there from the package index, and
measures:

- weight: the distributions pip installed (the stack and everything it pulls in), and their size on disk;
- import: the wall time of ``python -c "import <stack's modules>"`` (median of 5, bytecode cached);
- latency: a server of that stack answering ``GET /ping`` with a small JSON body, on loopback, timed from this
  process over one keep-alive connection (p50, p99, and requests/s over ``--requests`` sequential requests; the
  median of ``--repeat`` servers).

Prints one table and the load average (the machine is shared: compare the stacks' ratios within one run).
Everything it starts is killed and the temporary folder removed at the end.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

SERVERS = {
    "aiohttp": textwrap.dedent('''
        import sys
        from aiohttp import web

        async def ping(request):
            return web.json_response({"ok": True, "value": 1})

        app = web.Application()
        app.router.add_get("/ping", ping)
        web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
    '''),
    "starlette+uvicorn": textwrap.dedent('''
        import sys
        import uvicorn
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def ping(request):
            return JSONResponse({"ok": True, "value": 1})

        app = Starlette(routes=[Route("/ping", ping)])
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
    '''),
    "fastapi+uvicorn": textwrap.dedent('''
        import sys
        import uvicorn
        from fastapi import FastAPI

        app = FastAPI()

        @app.get("/ping")
        async def ping():
            return {"ok": True, "value": 1}

        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
    '''),
}
REQUIREMENTS = {
    "aiohttp": ["aiohttp"],
    "starlette+uvicorn": ["starlette", "uvicorn"],
    "fastapi+uvicorn": ["fastapi", "uvicorn"],
}
IMPORTS = {
    "aiohttp": "import aiohttp.web",
    "starlette+uvicorn": "import uvicorn, starlette.applications",
    "fastapi+uvicorn": "import uvicorn, fastapi",
}


@dataclass
class StackFigures:
    """What one stack weighs and how fast it answers."""

    distributions: int
    size_mb: float
    import_ms: float
    p50_ms: float
    p99_ms: float
    requests_per_s: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_venv(folder: Path, requirements: list[str]) -> tuple[Path, int, float]:
    """A venv with the stack installed; the number of distributions it added and their size in MB."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = next((folder / "lib").glob("python*/site-packages"))
    before_names, before_bytes = set(pip_list(python)), tree_bytes(site)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
    return python, len(set(pip_list(python)) - before_names), (tree_bytes(site) - before_bytes) / 1e6


def tree_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and "__pycache__" not in f.parts)


def pip_list(python: Path) -> list[str]:
    out = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True,
                         check=True).stdout
    return [line.split("==")[0].lower() for line in out.splitlines() if line]


def import_ms(python: Path, statement: str) -> float:
    subprocess.run([str(python), "-c", statement], check=True)  # fills the bytecode cache
    samples = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([str(python), "-c", statement], check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def wait_for_port(port: int, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server on port {port} never listened")


def time_server(python: Path, script: Path, requests: int) -> tuple[float, float, float]:
    """p50 and p99 in ms, and requests/s, of sequential keep-alive GETs against one server of the stack."""
    port = free_port()
    server = subprocess.Popen([str(python), str(script), str(port)], start_new_session=True)
    try:
        wait_for_port(port)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(200):
            conn.request("GET", "/ping")
            conn.getresponse().read()
        samples = []
        began = time.perf_counter()
        for _ in range(requests):
            start = time.perf_counter()
            conn.request("GET", "/ping")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{script.name}: status {response.status}")
            samples.append((time.perf_counter() - start) * 1000)
        elapsed = time.perf_counter() - began
        conn.close()
    finally:
        os.killpg(server.pid, 9)
        server.wait()
    samples.sort()
    return samples[len(samples) // 2], samples[min(len(samples) - 1, int(0.99 * len(samples)))], requests / elapsed


def measure(stack: str, folder: Path, requests: int, repeat: int) -> StackFigures:
    python, distributions, size_mb = make_venv(folder / "venv", REQUIREMENTS[stack])
    script = folder / "server.py"
    script.write_text(SERVERS[stack])
    runs = [time_server(python, script, requests) for _ in range(repeat)]
    return StackFigures(
        distributions=distributions,
        size_mb=size_mb,
        import_ms=import_ms(python, IMPORTS[stack]),
        p50_ms=statistics.median(r[0] for r in runs),
        p99_ms=statistics.median(r[1] for r in runs),
        requests_per_s=statistics.median(r[2] for r in runs),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stacks", default=",".join(SERVERS), help="comma-separated subset of " + ",".join(SERVERS))
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-http-stacks-"))
    try:
        print(f"{'stack':<20} {'dists':>5} {'MB':>6} {'import ms':>9} {'p50 ms':>7} {'p99 ms':>7} {'req/s':>7}")
        for stack in args.stacks.split(","):
            figures = measure(stack, root / stack.replace("+", "_"), args.requests, args.repeat)
            print(f"{stack:<20} {figures.distributions:>5} {figures.size_mb:>6.1f} {figures.import_ms:>9.0f} "
                  f"{figures.p50_ms:>7.3f} {figures.p99_ms:>7.3f} {figures.requests_per_s:>7.0f}", flush=True)
        print("load average: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
