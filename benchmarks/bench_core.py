"""Core performance figures of lightning-ctl, measured through the real ``lightning-ctl run`` CLI.

    .venv/bin/python benchmarks/bench_core.py [--repeat N] [--only 1,2,3,3b,4,5] [--breakdown]

Figures (each the median, with min-max, over ``--repeat`` runs of a generated app in a temporary folder):

1  sequential calls of a non-parallel ``cache_calls=False`` counter work, timed inside the flow from the call
   that brought the count to 1 until it reached ``--calls`` (process start excluded): calls/s and ms per call.
2  ``lightning-ctl run`` launch to the first line printed inside a work: Popen until ``root.w | hello`` shows on
   the CLI's stdout.
3  50 parallel works run once (``start_with_flow=True``, the default), timed in the flow from its first run (when
   it issues the calls) until it sees every work ``has_succeeded``; 3b the same with ``start_with_flow=False``.
4  10 idle parallel works after their first call: unique memory (USS) per work process, median of the 10; the
   work PSS, the control plane, agent and fork-server USS and the whole app's PSS are printed beside it.
5  (optional, ``--only 5``) a py-spy profile of figure 1's app (``.venv/bin/pip install py-spy``): which Python
   code holds the GIL in each process.

``--breakdown`` runs each selected figure among 1, 2, 3, 3b once more with hop tracing (``_trace_site.py`` beside
this file, installed as ``sitecustomize`` of the app's processes through PYTHONPATH: no product file is touched)
and prints where the time goes per call (figure 1), along the launch (figure 2) and per work launch (figure 3,
also with the agent's fork server turned off through LIGHTNING_AGENT_NO_FORK_SERVER, for comparison).

Exit status: 0 when every figure run meets its target, 1 otherwise.

Nothing is written into the repository: the apps, traces and Python's bytecode cache (PYTHONPYCACHEPREFIX, so
the repo gets no ``__pycache__``) live in a temporary folder that is removed at the end. Every process started is
in its own session and is killed (with the app's agent and work processes) if it outlives its run.
"""

from __future__ import annotations

import argparse
import collections
import json
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

sys.dont_write_bytecode = True  # this script's own imports leave no __pycache__ behind either

import psutil  # noqa: E402 - after the bytecode switch

BIN = Path(sys.executable).parent
LIGHTNING_CTL = str(BIN / "lightning-ctl") if (BIN / "lightning-ctl").exists() else (shutil.which("lightning-ctl") or "")
PY_SPY = str(BIN / "py-spy") if (BIN / "py-spy").exists() else (shutil.which("py-spy") or "")
TRACE_SITE = Path(__file__).resolve().parent / "_trace_site.py"
MB = 1024 * 1024


# ------------------------------------------------------------------------------------------------------------------
# Generated apps
# ------------------------------------------------------------------------------------------------------------------

COUNTER_AND_ROOT = '''
class Counter(LightningWork):
    def __init__(self):
        super().__init__(cache_calls=False)
        self.count = 0

    def run(self):
        self.count += 1


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.counter = Counter()
'''
"""App text: a work counting its calls and the root flow holding it (each app adds the flow's ``run``)."""

APP_COUNTER = '''
import json, time
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

N = {calls}
_B = {{"t1": None, "runs": 0, "runs_at_1": 0}}   # module globals: not part of the flow's state

''' + COUNTER_AND_ROOT + '''
    def run(self):
        _B["runs"] += 1
        count = self.counter.count
        if count >= 1 and _B["t1"] is None:
            _B["t1"] = time.perf_counter()
            _B["runs_at_1"] = _B["runs"]
        if count >= N:
            dt = time.perf_counter() - _B["t1"]
            calls = N - 1
            print("BENCH_RESULT " + json.dumps({{"rate": calls / dt, "ms_per_call": dt * 1000 / calls,
                  "seconds": dt, "calls": calls, "ticks_per_call": (_B["runs"] - _B["runs_at_1"]) / calls}}),
                  flush=True)
            self.stop("benchmark done")
            return
        self.counter.run()


app = LightningApp(Root())
'''

APP_HELLO = '''
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Hello(LightningWork):
    def run(self):
        print("hello", flush=True)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Hello()

    def run(self):
        self.w.run()
        self.stop("benchmark done")


app = LightningApp(Root())
'''

APP_PARALLEL = '''
import json, time
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

WORKS = {works}
_B = {{"t0": None, "first": None}}


class Job(LightningWork):
    def __init__(self):
        super().__init__(parallel=True, start_with_flow={start_with_flow})
        self.done = False

    def run(self):
        self.done = True


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        for i in range(WORKS):
            setattr(self, f"w{{i}}", Job())

    def run(self):
        works = [getattr(self, f"w{{i}}") for i in range(WORKS)]
        if _B["t0"] is None:
            _B["t0"] = time.perf_counter()
            for w in works:
                w.run()
            return
        done = sum(w.has_succeeded for w in works)
        if done and _B["first"] is None:
            _B["first"] = time.perf_counter() - _B["t0"]
        if done == WORKS:
            print("BENCH_RESULT " + json.dumps({{"seconds": time.perf_counter() - _B["t0"], "first": _B["first"]}}),
                  flush=True)
            self.stop("benchmark done")


app = LightningApp(Root())
'''

APP_IDLE = '''
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

WORKS = {works}
_B = {{"called": False, "ready": False}}


class Idle(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.done = False

    def run(self):
        self.done = True


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        for i in range(WORKS):
            setattr(self, f"w{{i}}", Idle())

    def run(self):
        works = [getattr(self, f"w{{i}}") for i in range(WORKS)]
        if not _B["called"]:
            _B["called"] = True
            for w in works:
                w.run()
        elif not _B["ready"] and all(w.has_succeeded for w in works):
            _B["ready"] = True
            print("ready", flush=True)


app = LightningApp(Root())
'''


# ------------------------------------------------------------------------------------------------------------------
# Running one app, and making sure nothing of it survives
# ------------------------------------------------------------------------------------------------------------------

class BenchError(RuntimeError):
    """A run did not produce its figure (timeout, crash, missing output)."""


class Session:
    """The temporary folder of one benchmark invocation and the environment of the processes it starts."""

    def __init__(self, pyc: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="lightning-ctl-bench-"))
        self.pyc = pyc
        self._n = 0

    def write_app(self, name: str, source: str) -> Path:
        self._n += 1
        folder = self.root / f"{self._n:03d}-{name}"
        folder.mkdir()
        path = folder / "app.py"
        path.write_text(textwrap.dedent(source).lstrip())
        return path

    def env(self, trace_dir: Path | None = None, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {**os.environ, **(extra or {})}
        env.pop("LIGHTNING_CTL_TOKEN", None)
        if self.pyc == "warm":
            # A warm bytecode cache (what an installed package has), kept out of the repository.
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(self.root / "pycache")
        else:
            # Whatever __pycache__ exists is read; nothing is written (modules without one compile every start).
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env.pop("PYTHONPYCACHEPREFIX", None)
        if trace_dir is not None:
            site_dir = self.root / "trace-site"
            site_dir.mkdir(exist_ok=True)
            shutil.copyfile(TRACE_SITE, site_dir / "sitecustomize.py")
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site_dir), env.get("PYTHONPATH", "")) if p)
            env["LCTL_BENCH_TRACE"] = str(trace_dir)
        return env

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Line:
    t: float  # time.monotonic() when the line was read
    text: str


@dataclass
class AppRun:
    """One ``lightning-ctl run`` in its own session, its output read line by line with the time of each line."""

    session: Session
    app: Path
    extra_args: tuple[str, ...] = ()
    trace_dir: Path | None = None
    prefix: tuple[str, ...] = ()
    extra_env: dict[str, str] | None = None
    stdout: list[Line] = field(default_factory=list)
    stderr: list[Line] = field(default_factory=list)

    def start(self) -> AppRun:
        cmd = [*self.prefix, LIGHTNING_CTL, "run", str(self.app), "--log-level", "warning", "--stop-grace", "5",
               *self.extra_args]
        self._cond = threading.Condition()
        self.t_popen_ns = time.monotonic_ns()
        self.t_popen = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, cwd=str(self.app.parent), env=self.session.env(self.trace_dir, self.extra_env), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        self.create_time = time.time() - 1.0
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        return self

    def _read(self, stream: Any, sink: list[Line]) -> None:
        for raw in iter(stream.readline, b""):
            line = Line(time.monotonic(), raw.decode("utf-8", errors="replace").rstrip("\n"))
            with self._cond:
                sink.append(line)
                self._cond.notify_all()

    def wait_line(self, predicate: Callable[[str], bool], timeout_s: float) -> Line:
        """The first stdout line for which ``predicate`` holds; BenchError on timeout or exit without it."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        with self._cond:
            while True:
                for line in self.stdout[seen:]:
                    if predicate(line.text):
                        return line
                seen = len(self.stdout)
                if self.proc.poll() is not None and not self._readers[0].is_alive():
                    raise BenchError(f"lightning-ctl exited ({self.proc.returncode}) without the expected line"
                                     f"{self._tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"timed out after {timeout_s:.0f} s waiting for the expected line{self._tail()}")
                self._cond.wait(min(left, 0.2))

    def wait_exit(self, timeout_s: float) -> int:
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise BenchError(f"lightning-ctl did not exit within {timeout_s:.0f} s{self._tail()}") from None
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def result(self) -> dict[str, Any]:
        for line in self.stdout:
            if line.text.startswith("BENCH_RESULT "):
                return json.loads(line.text.split(" ", 1)[1])
        raise BenchError(f"the app printed no BENCH_RESULT line{self._tail()}")

    def _tail(self) -> str:
        out = [f"  stdout| {x.text}" for x in self.stdout[-5:]] + [f"  stderr| {x.text}" for x in self.stderr[-15:]]
        return ("\n" + "\n".join(out)) if out else ""

    # -- the app's processes ----------------------------------------------------------------------------------------

    def tree(self) -> list[psutil.Process]:
        """The lightning-ctl process's descendants (agent, fork server, works)."""
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def _ours(self) -> list[psutil.Process]:
        """Every live process of this run: descendants, plus orphans recognised by our app path or our pid."""
        found = {p.pid: p for p in self.tree()}
        marker_app, marker_parent = str(self.app.parent), f"--parent-pid {self.proc.pid}"
        for p in psutil.process_iter(["cmdline", "create_time"]):
            try:
                if p.pid in found or p.pid == self.proc.pid or (p.info["create_time"] or 0) < self.create_time:
                    continue
                cmdline = " ".join(p.info["cmdline"] or ())
                if marker_app in cmdline or marker_parent in cmdline:
                    found[p.pid] = p
                    for child in p.children(recursive=True):
                        found[child.pid] = child
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return list(found.values())

    def kill_all(self) -> list[int]:
        """SIGKILL lightning-ctl and every process of its app that is still alive (each in its process group)."""
        leftovers = self._ours()
        victims = [self.proc.pid] if self.proc.poll() is None else []
        victims += [p.pid for p in leftovers]
        for pid in victims:
            try:
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except Exception:  # noqa: BLE001
                pass
        return [p.pid for p in leftovers]


class launched:  # noqa: N801 - used as a context manager, like open()
    """``with launched(run) as r:``: start it; at the end kill whatever of it is still alive, even on error."""

    def __init__(self, run: AppRun) -> None:
        self.run = run

    def __enter__(self) -> AppRun:
        return self.run.start()

    def __exit__(self, *exc: object) -> None:
        leftovers = self.run.kill_all()
        if leftovers and exc[0] is None:
            print(f"  warning: {len(leftovers)} process(es) of the app outlived lightning-ctl and were killed",
                  file=sys.stderr)


# ------------------------------------------------------------------------------------------------------------------
# The figures
# ------------------------------------------------------------------------------------------------------------------

def run_counter(session: Session, args: argparse.Namespace, trace_dir: Path | None = None,
                prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    app = session.write_app("counter", APP_COUNTER.format(calls=args.calls))
    with launched(AppRun(session, app, trace_dir=trace_dir, prefix=prefix)) as run:
        code = run.wait_exit(args.timeout)
        if code != 0:
            raise BenchError(f"lightning-ctl exited with {code}{run._tail()}")
        return run.result()


def fig1(session: Session, args: argparse.Namespace) -> dict[str, float]:
    res = run_counter(session, args)
    return {"rate": res["rate"], "ms": res["ms_per_call"], "ticks_per_call": res["ticks_per_call"]}


def fig2(session: Session, args: argparse.Namespace, trace_dir: Path | None = None) -> dict[str, float]:
    app = session.write_app("hello", APP_HELLO)
    with launched(AppRun(session, app, trace_dir=trace_dir)) as run:
        line = run.wait_line(lambda text: text.strip() == "root.w | hello", args.timeout)
        code = run.wait_exit(args.timeout)
        t_exit = time.monotonic()
        if code != 0:
            raise BenchError(f"lightning-ctl exited with {code}{run._tail()}")
        return {"s": line.t - run.t_popen, "exit_s": t_exit - run.t_popen, "t_popen_ns": run.t_popen_ns,
                "t_line_ns": int(line.t * 1e9)}


def fig3(session: Session, args: argparse.Namespace, start_with_flow: bool = True,
         trace_dir: Path | None = None, extra_env: dict[str, str] | None = None) -> dict[str, float]:
    app = session.write_app(f"parallel-swf{int(start_with_flow)}",
                            APP_PARALLEL.format(works=args.works, start_with_flow=start_with_flow))
    with launched(AppRun(session, app, trace_dir=trace_dir, extra_env=extra_env)) as run:
        code = run.wait_exit(args.timeout)
        if code != 0:
            raise BenchError(f"lightning-ctl exited with {code}{run._tail()}")
        res = run.result()
        return {"s": res["seconds"], "first_s": res["first"] or float("nan")}


def _classify(procs: list[psutil.Process]) -> dict[str, list[psutil.Process]]:
    """The app's processes by kind: works (exec'd or forked), fork servers, the agent, others."""
    kinds: dict[str, list[psutil.Process]] = collections.defaultdict(list)
    cmdlines = {}
    for p in procs:
        try:
            cmdlines[p.pid] = " ".join(p.cmdline())
        except psutil.NoSuchProcess:
            continue
    for p in procs:
        cmd = cmdlines.get(p.pid)
        if cmd is None:
            continue
        try:
            parent_cmd = cmdlines.get(p.ppid(), "")
        except psutil.NoSuchProcess:
            continue
        if "lightning_ctl.agent.runner" in cmd:
            # A fork server's children carry its command line; the fork server itself is the agent's child.
            if "lightning_ctl.agent.runner.zygote" in cmd and "lightning_ctl.agent.runner" not in parent_cmd:
                kinds["fork server"].append(p)
            else:
                kinds["work"].append(p)
        elif " -m agent" in cmd or "lightning-agent" in cmd:
            kinds["agent"].append(p)
        else:
            kinds["other"].append(p)
    return kinds


def fig4(session: Session, args: argparse.Namespace) -> dict[str, float]:
    works = args.idle_works
    app = session.write_app("idle", APP_IDLE.format(works=works))
    with launched(AppRun(session, app)) as run:
        run.wait_line(lambda text: text.strip() == "ready", args.timeout)
        deadline = time.monotonic() + args.timeout
        while True:
            kinds = _classify(run.tree())
            if len(kinds["work"]) >= works:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"found {len(kinds['work'])} of {works} work processes")
            time.sleep(0.1)
        time.sleep(args.settle)  # let the works go idle (the first call's garbage, the sender threads)
        kinds = _classify(run.tree())

        def uss(procs: list[psutil.Process]) -> list[float]:
            out = []
            for p in procs:
                try:
                    out.append(p.memory_full_info().uss / MB)
                except psutil.NoSuchProcess:
                    pass
            return out

        def rss(procs: list[psutil.Process]) -> list[float]:
            out = []
            for p in procs:
                try:
                    out.append(p.memory_info().rss / MB)
                except psutil.NoSuchProcess:
                    pass
            return out

        def pss(procs: list[psutil.Process]) -> list[float]:
            out = []
            for p in procs:
                try:
                    out.append(p.memory_full_info().pss / MB)
                except (psutil.NoSuchProcess, AttributeError):
                    pass
            return out

        work_uss = uss(kinds["work"])
        everything = [psutil.Process(run.proc.pid), *(p for group in kinds.values() for p in group)]
        result = {
            "uss": statistics.median(work_uss),
            "uss_max": max(work_uss),
            "rss": statistics.median(rss(kinds["work"])),
            "cp_uss": uss([psutil.Process(run.proc.pid)])[0],
            "agent_uss": sum(uss(kinds["agent"])),
            "fork_server_uss": sum(uss(kinds["fork server"])),
            "pss": statistics.median(pss(kinds["work"]) or [float("nan")]),
            "app_pss": sum(pss(everything)),
            "n_works": len(work_uss),
            "n_fork_servers": len(kinds["fork server"]),
        }
        os.kill(run.proc.pid, signal.SIGINT)
        code = run.wait_exit(args.timeout)
        if code not in (130, 0):
            raise BenchError(f"lightning-ctl exited with {code} after SIGINT{run._tail()}")
        return result


# ------------------------------------------------------------------------------------------------------------------
# Figure 5: a py-spy profile of figure 1
# ------------------------------------------------------------------------------------------------------------------

def fig5(session: Session, args: argparse.Namespace) -> None:
    if not PY_SPY:
        print("figure 5: py-spy is not installed (`.venv/bin/pip install py-spy`); skipped")
        return
    raw = session.root / "profile.txt"
    prefix = (PY_SPY, "record", "--subprocesses", "--gil", "-r", str(args.profile_rate), "-f", "raw", "-o", str(raw), "--")
    res = run_counter(session, args, prefix=prefix)
    print(f"\nfigure 5: py-spy profile of figure 1 ({res['rate']:.0f} calls/s under the profiler; samples of threads "
          "holding the GIL, i.e. running Python; start-up imports left out)")
    roles = collections.Counter()
    leaves: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    phases: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for text in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = text.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        # With --subprocesses a stack starts with the chain of processes; the last one is the sampled process.
        heads = [i for i, f in enumerate(frames) if f.startswith("process ")]
        head = frames[heads[-1]] if heads else ""
        # The first process of the chain is the one py-spy started: lightning-ctl (its cmdline may read as "").
        role = ("control plane" if len(heads) <= 1 else "work" if "lightning_ctl.agent.runner" in head
                else "agent" if " -m agent" in head or "lightning-agent" in head else "other")
        frames = frames[heads[-1] + 1:] if heads else frames
        if any("_find_and_load" in f for f in frames):
            continue  # imports at start-up
        roles[role] += count
        leaves[role][_short_frame(frames[-1]) if frames else "?"] += count
        phases[role][_phase(frames)] += count
    total = sum(roles.values()) or 1
    for role, n in roles.most_common():
        print(f"  {role}: {n} samples ({100 * n / total:.0f} % of all on-CPU samples)")
        print("    by activity: " + ", ".join(f"{k} {100 * v / n:.0f} %" for k, v in phases[role].most_common(6)))
        print("    hottest leaf functions: " + ", ".join(
            f"{k} {100 * v / n:.0f} %" for k, v in leaves[role].most_common(6)))


def _short_frame(frame: str) -> str:
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rstrip(')').split('/')[-1]})" if where else name


_PHASES = [
    ("grpc", ("grpc/", "_cython", "cygrpc")),
    ("protobuf/codec", ("protobuf", "codec.py", "_pb2")),
    ("flow tick (user run, state JSON)", ("FlowLoop._tick", "Root.run")),
    ("asyncio loop", ("asyncio/",)),
    ("structlog", ("structlog",)),
    ("json", ("json/",)),
    ("threading/queue", ("threading.py", "queue.py")),
]


def _phase(frames: list[str]) -> str:
    for name, keys in _PHASES:
        if any(k in f for f in frames for k in keys):
            return name
    return "other"


# ------------------------------------------------------------------------------------------------------------------
# Breakdown: hop tracing (see _trace_site.py)
# ------------------------------------------------------------------------------------------------------------------

@dataclass
class Rec:
    t: int
    role: str
    pid: int
    thread: str
    tag: str
    extra: str


@dataclass
class Proc:
    pid: int
    role: str
    cpu: float
    argv: str
    recs: list[Rec]


def load_traces(trace_dir: Path) -> tuple[list[Proc], list[Rec]]:
    procs = []
    for path in sorted(trace_dir.glob("trace-*.txt")):
        lines = path.read_text(errors="replace").splitlines()
        if not lines or not lines[0].startswith("# "):
            continue
        header = dict(part.split("=", 1) for part in lines[0][2:].split(" argv=")[0].split())
        argv = lines[0].split(" argv=", 1)[1] if " argv=" in lines[0] else ""
        pid, role = int(header["pid"]), header["role"]
        recs = []
        for line in lines[1:]:
            parts = line.split("\t", 3)
            if len(parts) == 4:
                recs.append(Rec(int(parts[0]), role, pid, parts[1], parts[2], parts[3]))
        procs.append(Proc(pid, role, float(header.get("cpu", 0)), argv, recs))
    merged = sorted((r for p in procs for r in p.recs), key=lambda r: r.t)
    return procs, merged


def _cpu_of(extra: str) -> float | None:
    for part in extra.split():
        if part.startswith("cpu="):
            return float(part[4:])
    return None


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def breakdown_fig1(session: Session, args: argparse.Namespace) -> None:
    trace_dir = session.root / "trace-fig1"
    trace_dir.mkdir()
    res = run_counter(session, args, trace_dir=trace_dir)
    procs, recs = load_traces(trace_dir)
    print(f"\nbreakdown of figure 1 (traced run: {res['rate']:.0f} calls/s, {res['ms_per_call']:.3f} ms per call, "
          f"{res['ticks_per_call']:.2f} flow runs per call; tracing adds a few µs per hop)")
    missing = sorted({r.extra for r in recs if r.tag in ("patch_missing", "patch_failed")})
    if missing:
        print("  not traced (code moved): " + ", ".join(missing))
    dispatches = [r for r in recs if r.role == "cp" and r.tag == "dispatch" and "root.counter" in r.extra]
    if len(dispatches) < 20:
        print("  too few traced calls to analyse")
        return
    # The steady state: leave out the first and last 10 % of calls.
    lo, hi = len(dispatches) // 10, len(dispatches) - len(dispatches) // 10
    chain: list[tuple[str, str, str, str]] = [
        # (label of the hop that ENDS here, role, tag, extra must contain)
        ("", "cp", "dispatch", "root.counter"),
        ("flow: rest of the tick after the call (state JSON compare, sync, flush)", "cp", "tick:out", ""),
        ("CP: flow thread -> asyncio thread (call_soon_threadsafe), route", "cp", "route", ""),
        ("CP: route -> asyncio.Queue -> _write_commands builds the message", "cp", "cp_write", ""),
        ("gRPC CP -> agent (write, HTTP/2, agent read, decode)", "agent", "agent_handle", "RunCall"),
        ("agent: handle -> frame encoded for the work", "agent", "frame_out", ""),
        ("unix socket agent -> work, receiver thread wakes", "work", "work_msg_in", "call"),
        ("work: receiver thread -> main thread (SimpleQueue)", "work", "work_run:in", ""),
        ("work: run_call (absorb, RUNNING, user run, sweep, SUCCEEDED)", "work", "work_status", "succeeded"),
        ("work: sender thread wakes, encodes the batch", "work", "frame_out", ""),
        ("unix socket work -> agent, agent reads the frame", "agent", "frame_in", ""),
        ("agent: outbox queue -> _send_events builds the message", "agent", "agent_write", ""),
        ("gRPC agent -> CP (write, HTTP/2, CP read)", "cp", "cp_events_in", ""),
        ("CP: decode events, deliver SUCCEEDED to the flow inbox", "cp", "deliver", "succeeded"),
        ("CP: flow thread wakes (inbox.get)", "cp", "drain", ""),
        ("CP: apply events, schedule check, tick starts", "cp", "tick:in", ""),
        ("flow: root.run() up to the next call (dispatch bookkeeping)", "cp", "dispatch", "root.counter"),
    ]
    hops: list[list[float]] = [[] for _ in chain[1:]]
    totals, counts = [], collections.defaultdict(list)
    index = {id(r): i for i, r in enumerate(recs)}
    for k in range(lo, hi - 1):
        start, end = dispatches[k], dispatches[k + 1]
        i, found = index[id(start)], [start]
        for _, role, tag, needle in chain[1:]:
            i += 1
            while i < len(recs) and not (recs[i].role == role and recs[i].tag == tag and needle in recs[i].extra):
                i += 1
            if i >= len(recs) or recs[i].t > end.t:
                break
            found.append(recs[i])
        if len(found) != len(chain) or found[-1] is not end:
            continue
        for h in range(len(hops)):
            hops[h].append((found[h + 1].t - found[h].t) / 1000)
        totals.append((end.t - start.t) / 1000)
        window = recs[index[id(start)]:index[id(end)]]
        for label, role, tag in (("flow runs (ticks)", "cp", "tick:in"), ("CP->agent gRPC messages", "cp", "cp_write"),
                                 ("agent->CP gRPC messages", "agent", "agent_write"),
                                 ("work->agent frames", "work", "frame_out"), ("puts into the flow inbox", "cp", "deliver")):
            counts[label].append(sum(1 for r in window if r.role == role and r.tag == tag))
    if not totals:
        print("  could not follow any call through the trace")
        return
    print(f"  {len(totals)} steady-state calls followed; median call period {statistics.median(totals):.0f} µs "
          f"(p90 {_pct(totals, 0.9):.0f} µs)")
    print(f"  {'hop (µs)':<72} {'median':>7} {'p90':>7}")
    acc = 0.0
    for (label, *_), values in zip(chain[1:], hops, strict=True):
        med = statistics.median(values)
        acc += med
        print(f"  {label:<72} {med:7.0f} {_pct(values, 0.9):7.0f}")
    print(f"  {'sum of medians':<72} {acc:7.0f}")
    print("  per call: " + ", ".join(f"{k} {statistics.mean(v):.2f}" for k, v in counts.items()))
    # CPU per call, per process, between the first and last traced call.
    cpu_rows = []
    for role, tag in (("cp", "dispatch"), ("agent", "agent_handle"), ("work", "work_status")):
        pts = [(r.t, _cpu_of(r.extra)) for r in recs if r.role == role and r.tag == tag and _cpu_of(r.extra) is not None]
        pts = [p for p in pts if dispatches[lo].t <= p[0] <= dispatches[hi - 1].t]
        if len(pts) >= 2:
            cpu_rows.append(f"{role} {1e6 * (pts[-1][1] - pts[0][1]) / (hi - 1 - lo):.0f}")
    if cpu_rows:
        print("  CPU per call (µs, user+sys of each process): " + ", ".join(cpu_rows)
              + f"; wall per call {statistics.median(totals):.0f}")


def _first(recs: list[Rec], role: str, tag: str, needle: str = "", exact: bool = False) -> Rec | None:
    """The first record of ``role``/``tag`` whose extra contains ``needle`` (or whose first word is it)."""
    for r in recs:
        if r.role == role and r.tag == tag and (r.extra.split(" ")[0] == needle if exact else needle in r.extra):
            return r
    return None


def breakdown_fig2(session: Session, args: argparse.Namespace) -> None:
    trace_dir = session.root / "trace-fig2"
    trace_dir.mkdir()
    res = fig2(session, args, trace_dir=trace_dir)
    procs, recs = load_traces(trace_dir)
    t0 = res["t_popen_ns"]
    print(f"\nbreakdown of figure 2 (traced run: hello after {res['s'] * 1000:.0f} ms, exit after "
          f"{res['exit_s'] * 1000:.0f} ms); ms since Popen, per process")
    missing = sorted({r.extra for r in recs if r.tag in ("patch_missing", "patch_failed")})
    if missing:
        print("  not traced (code moved): " + ", ".join(missing))
    points = [
        ("cp", "interp", "", "control plane: interpreter up (site done)"),
        ("cp", "start_agent:in", "", "control plane: Popen of the local agent"),
        ("cp", "imported", "controlplane.cli ", "control plane: CLI imported (grpc, click, structlog, ...)"),
        ("cp", "build_server:out", "", "control plane: gRPC server built"),
        ("cp", "send_address", "", "control plane: server address sent to the agent"),
        ("cp", "load_app:out", "", "control plane: app file loaded"),
        ("cp", "tick:in", "", "control plane: first flow run"),
        ("agent", "interp", "", "agent: interpreter up"),
        ("agent", "imported", "agent.cli ", "agent: imports done"),
        ("agent", "zygote_start:in", "", "agent: fork server Popen"),
        ("agent", "agent_stream", "", "agent: opens its stream"),
        ("cp", "agent_registered", "", "control plane: agent registered"),
        ("agent", "agent_handle", "LaunchWork", "agent: LaunchWork received"),
        ("zygote", "interp", "", "fork server: interpreter up"),
        ("zygote", "imported", "agent.runner.work_process ", "fork server: runner imported"),
        ("zygote", "load_app:out", "", "fork server: app loaded"),
        ("zygote", "fork:in", "", "fork server: fork() of the work"),
        ("work", "interp", "", "work (exec'd): interpreter up"),
        ("work", "forked", "", "work (forked): running"),
        ("work", "work_main", "", "work: runner main"),
        ("work", "work_connect:out", "", "work: connected to the agent"),
        ("work", "work_init_in", "", "work: init received"),
        ("work", "work_start:out", "", "work: started (app loaded, on_start)"),
        ("work", "work_run:in", "", "work: run() called"),
        ("agent", "outbox_put", ":logs", "agent: output line read from the work's pipe"),
        ("cp", "print_lines", "hello", "control plane: prints 'root.w | hello'"),
    ]
    rows = []
    for role, tag, needle, label in points:
        r = _first(recs, role, tag, needle)
        if r is not None:
            rows.append(((r.t - t0) / 1e6, label))
    rows.append(((res["t_line_ns"] - t0) / 1e6, "benchmark: line read from the CLI's stdout"))
    for ms, label in sorted(rows):
        print(f"  {ms:8.1f}  {label}")
    cpu = {p.role: p.cpu for p in procs}
    print("  CPU seconds over the whole run: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cpu.items())))


def breakdown_fig3(session: Session, args: argparse.Namespace, start_with_flow: bool = True,
                   fork_server: bool = True) -> None:
    trace_dir = session.root / f"trace-fig3-{int(start_with_flow)}-{int(fork_server)}"
    trace_dir.mkdir()
    extra_env = None if fork_server else {"LIGHTNING_AGENT_NO_FORK_SERVER": "1"}
    res = fig3(session, args, start_with_flow=start_with_flow, trace_dir=trace_dir, extra_env=extra_env)
    procs, recs = load_traces(trace_dir)
    variant = "" if fork_server else ", fork server OFF: one exec'd interpreter per work"
    print(f"\nbreakdown of figure 3 (start_with_flow={start_with_flow}{variant}; traced run: {res['s']:.2f} s, first "
          f"success seen after {res['first_s']:.2f} s)")
    missing = sorted({r.extra for r in recs if r.tag in ("patch_missing", "patch_failed")})
    if missing:
        print("  not traced (code moved): " + ", ".join(missing))
    t0 = _first(recs, "cp", "tick:in")
    launch_cmd = _first(recs, "cp", "take_commands", "LaunchWork")
    if t0 is None or launch_cmd is None:
        print("  no first tick / launch in the trace")
        return
    base = min(t0.t, launch_cmd.t)
    work_procs = [p for p in procs if p.role == "work"]
    by_name: dict[str, Proc] = {}
    for p in work_procs:
        main = next((r for r in p.recs if r.tag == "work_main"), None)
        if main is not None:
            by_name[main.extra.split()[0]] = p
    phases = collections.defaultdict(list)
    ends, ups, spawned = [], [], []
    for name, p in by_name.items():
        handle = _first(recs, "agent", "agent_handle", f"LaunchWork:{name}", exact=True)
        spawn_in = _first(recs, "agent", "spawn:in", name, exact=True)
        spawn_out = _first(recs, "agent", "spawn:out", name, exact=True)
        own = {r.tag: r for r in reversed(p.recs)}  # the first of each tag
        up = own.get("forked") or own.get("interp")
        done_cp = _first(recs, "cp", "deliver", f"{name}:StatusChanged:succeeded")
        seq = [
            ("CP launch issued -> agent handles LaunchWork", launch_cmd, handle),
            ("agent: LaunchWork -> launch started (queued behind other launches)", handle, spawn_in),
            ("agent: launch call (fork-server request or exec) until pid known", spawn_in, spawn_out),
            ("launch started -> process running (exec + interpreter, or fork)", spawn_in, up),
            ("process running -> runner main (imports; ~0 when forked)", up, own.get("work_main")),
            ("runner main -> connected to the agent", own.get("work_main"), own.get("work_connect:out")),
            ("connected -> init received", own.get("work_connect:out"), own.get("work_init_in")),
            ("init -> started (app loaded unless preloaded, on_start)", own.get("work_init_in"), own.get("work_start:out")),
            ("started -> run() called", own.get("work_start:out"), own.get("work_run:in")),
            ("run() -> SUCCEEDED reported", own.get("work_run:in"), _first(p.recs, "work", "work_status", "succeeded")),
            ("SUCCEEDED reported -> delivered to the flow", _first(p.recs, "work", "work_status", "succeeded"), done_cp),
        ]
        for label, a, b in seq:
            if a is not None and b is not None:
                phases[label].append((b.t - a.t) / 1e6)
        if done_cp is not None:
            ends.append((done_cp.t - base) / 1e6)
        if up is not None:
            ups.append((up.t - base) / 1e6)
        if spawn_in is not None:
            spawned.append((spawn_in.t - base) / 1e6)
    print(f"  {len(by_name)} work processes traced; ms per work: {'median':>7} {'max':>7}")
    for label, values in phases.items():
        print(f"  {label:<74} {statistics.median(values):7.1f} {max(values):7.1f}")
    if ends:
        print(f"  timeline (ms after the launch commands): launches started {min(spawned):.0f}-{max(spawned):.0f}, "
              f"processes running {min(ups):.0f}-{max(ups):.0f}, successes at the flow {min(ends):.0f}-{max(ends):.0f}")
    forks = [r for r in recs if r.role == "zygote" and r.tag in ("fork:in", "fork:out")]
    fork_in = [r.t for r in forks if r.tag == "fork:in"]
    fork_out = [r.t for r in forks if r.tag == "fork:out"]
    if len(fork_in) >= 2 and len(fork_out) == len(fork_in):
        durations = [(b - a) / 1e6 for a, b in zip(fork_in, fork_out, strict=True)]
        gaps = [(b - a) / 1e6 for a, b in zip(fork_in, fork_in[1:], strict=False)]
        print(f"  fork server: {len(fork_in)} forks from {(fork_in[0] - base) / 1e6:.0f} to "
              f"{(fork_in[-1] - base) / 1e6:.0f} ms; fork() call median {statistics.median(durations):.2f} ms "
              f"(max {max(durations):.2f}); one fork every {statistics.median(gaps):.2f} ms (median gap, max "
              f"{max(gaps):.2f})")
    cpu = collections.defaultdict(float)
    for p in procs:
        cpu[p.role] += p.cpu
    work_cpu = [p.cpu for p in work_procs]
    print("  CPU seconds over the whole run: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cpu.items()))
          + (f"; per work process median {statistics.median(work_cpu) * 1000:.0f} ms" if work_cpu else ""))


# ------------------------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------------------------

def _agent_has_option(option: str) -> bool:
    """Whether ``lightning-agent --help`` lists ``option`` (its options are also read from LIGHTNING_AGENT_* vars)."""
    agent = BIN / "lightning-agent"
    try:
        out = subprocess.run([str(agent), "--help"], capture_output=True, text=True, timeout=30,
                             env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in out


@dataclass
class Figure:
    key: str
    label: str
    unit: str
    reference: str
    target: str
    passes: Callable[[float], bool]
    values: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fmt: str = "{:.3g}"


def _stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--only", default="1,2,3,3b,4",
                        help="figures to run, comma-separated, among 1,2,3,3b,4,5 (default 1,2,3,3b,4)")
    parser.add_argument("--breakdown", action="store_true", help="also trace each selected figure among 1, 2, 3, 3b "
                        "once and print where the time goes")
    parser.add_argument("--calls", type=int, default=1000, help="figure 1: the count the flow waits for (default 1000)")
    parser.add_argument("--works", type=int, default=50, help="figure 3: parallel works (default 50)")
    parser.add_argument("--idle-works", type=int, default=10, help="figure 4: idle works (default 10)")
    parser.add_argument("--settle", type=float, default=1.0, help="figure 4: seconds idle before sampling (default 1)")
    parser.add_argument("--profile-rate", type=int, default=200, help="figure 5: py-spy samples per second")
    parser.add_argument("--keep-temp", action="store_true", help="keep the temporary folder (apps, traces, profile)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds any one wait may take (default 120)")
    parser.add_argument("--pyc", choices=("warm", "cold"), default="warm",
                        help="warm: a bytecode cache in the temp folder, filled by a warm-up run (default); cold: no "
                        "cache is written, so modules without a __pycache__ compile at every process start")
    args = parser.parse_args()
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(only) - {"1", "2", "3", "3b", "4", "5"}
    if unknown or args.repeat < 1:
        parser.error(f"unknown figure(s) {sorted(unknown)}" if unknown else "--repeat must be >= 1")
    if not LIGHTNING_CTL:
        parser.error("lightning-ctl not found next to this Python nor on PATH (pip install -e . first)")

    # Ctrl-C / SIGTERM: unwind, so every `launched` block kills its processes.
    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)

    figures = {
        "1": Figure("1", f"1 sequential calls, {args.calls} (calls/s)", "/s", "6.4/s", ">= 500/s", lambda v: v >= 500,
                    fmt="{:.0f}"),
        "1ms": Figure("1ms", "  ms per call", " ms", "155 ms", "<= 2 ms", lambda v: v <= 2, fmt="{:.3f}"),
        "2": Figure("2", "2 launch -> first work line (s)", " s", "1.5-2 s", "<= 0.5 s", lambda v: v <= 0.5,
                    fmt="{:.3f}"),
        "3": Figure("3", f"3 {args.works} parallel works, start_with_flow=True (s)", " s", "-", "<= 1.5 s",
                    lambda v: v <= 1.5, fmt="{:.3f}"),
        "3b": Figure("3b", f"3b {args.works} parallel works, start_with_flow=False (s)", " s", "-", "<= 1.5 s",
                     lambda v: v <= 1.5, fmt="{:.3f}"),
        "4": Figure("4", f"4 idle work USS, median of {args.idle_works} (MB)", " MB", "6-9 MB (forked)", "<= 30 MB",
                    lambda v: v <= 30, fmt="{:.1f}"),
    }
    details: dict[str, list[str]] = collections.defaultdict(list)
    session = Session(args.pyc)
    print(f"lightning-ctl core benchmark: {LIGHTNING_CTL}\n  repeat {args.repeat}, figures {','.join(only)}, "
          f"bytecode {args.pyc}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; temp {session.root}")
    try:
        # Warm-up (not counted): fills the bytecode cache and the page cache.
        t = time.monotonic()
        try:
            fig2(session, args)
            print(f"  warm-up run: {time.monotonic() - t:.2f} s")
        except BenchError as exc:
            print(f"  warm-up run failed: {exc}")
        for rep in range(1, args.repeat + 1):
            for key in only:
                if key == "5":
                    continue
                try:
                    if key == "1":
                        r = fig1(session, args)
                        figures["1"].values.append(r["rate"])
                        figures["1ms"].values.append(r["ms"])
                        note = f"{r['rate']:.0f} calls/s, {r['ms']:.3f} ms/call, {r['ticks_per_call']:.2f} flow runs/call"
                    elif key == "2":
                        r = fig2(session, args)
                        figures["2"].values.append(r["s"])
                        note = f"hello after {r['s']:.3f} s, exit after {r['exit_s']:.3f} s"
                    elif key in ("3", "3b"):
                        r = fig3(session, args, start_with_flow=(key == "3"))
                        figures[key].values.append(r["s"])
                        note = f"all succeeded after {r['s']:.3f} s (first after {r['first_s']:.3f} s)"
                    else:
                        r = fig4(session, args)
                        figures["4"].values.append(r["uss"])
                        for k in ("cp_uss", "agent_uss", "fork_server_uss", "rss", "uss_max", "pss", "app_pss"):
                            details[k].append(r[k])
                        note = (f"work USS median {r['uss']:.1f} MB (max {r['uss_max']:.1f}, PSS {r['pss']:.1f}, RSS "
                                f"{r['rss']:.0f}) over "
                                f"{r['n_works']} works; control plane {r['cp_uss']:.1f} MB, agent "
                                f"{r['agent_uss']:.1f} MB, fork server(s) x{r['n_fork_servers']} "
                                f"{r['fork_server_uss']:.1f} MB; PSS of the whole app {r['app_pss']:.0f} MB")
                except BenchError as exc:
                    for failed in ("1", "1ms") if key == "1" else (key,):
                        figures[failed].errors.append(str(exc))
                    note = f"FAILED: {exc}"
                print(f"  run {rep}/{args.repeat} figure {key}: {note}", flush=True)
        if "5" in only:
            try:
                fig5(session, args)
            except BenchError as exc:
                print(f"figure 5 failed: {exc}")
        if args.breakdown:
            no_fork = _agent_has_option("--no-fork-server")
            for name, func in (("1", breakdown_fig1), ("2", breakdown_fig2), ("3", breakdown_fig3),
                               ("3b", lambda s, a: breakdown_fig3(s, a, start_with_flow=False)),
                               ("3", lambda s, a: breakdown_fig3(s, a, fork_server=False) if no_fork else None)):
                if name not in only:
                    continue
                try:
                    func(session, args)
                except BenchError as exc:
                    print(f"\nbreakdown of figure {name} failed: {exc}")
    except KeyboardInterrupt:
        print("\ninterrupted; the app processes were killed", file=sys.stderr)
        return 130
    finally:
        if args.keep_temp:
            print(f"temporary folder kept: {session.root}")
        else:
            session.close()

    if not any(k in only for k in ("1", "2", "3", "3b", "4")):
        return 0
    rows = [("figure", "median", "min-max", "reference", "target", "result")]
    shown = [k for k in ("1", "1ms", "2", "3", "3b", "4") if k.removesuffix("ms") in only]
    all_pass = True
    for key in shown:
        f = figures[key]
        if f.values:
            med, lo, hi = _stats(f.values)
            ok = f.passes(med)
            all_pass &= ok
            result = ("PASS" if ok else "FAIL") + (f" ({len(f.errors)} runs failed)" if f.errors else "")
            rows.append((f.label, f.fmt.format(med) + f.unit, f"{f.fmt.format(lo)}-{f.fmt.format(hi)}",
                         f.reference, f.target, result))
        else:
            all_pass = False
            rows.append((f.label, "-", "-", f.reference, f.target, f"ERROR ({len(f.errors)} runs failed)"))
    if details:
        for key, label in (("pss", "  work PSS, median (MB)"), ("cp_uss", "  control plane USS (MB)"),
                           ("agent_uss", "  agent USS (MB)"), ("fork_server_uss", "  fork server USS (MB)"),
                           ("app_pss", "  whole app PSS, all processes (MB)")):
            med, lo, hi = _stats(details[key])
            rows.append((label, f"{med:.1f} MB", f"{lo:.1f}-{hi:.1f}", "-", "-", "info"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print(f"\nresults (median of {args.repeat} runs; machine load average now {os.getloadavg()[0]:.2f})")
    for i, row in enumerate(rows):
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("-+-".join("-" * w for w in widths))
    return 0 if all_pass else 1


if __name__ == "__main__":
    sys.exit(main())
