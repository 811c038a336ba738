"""Running real ``lightning-ctl`` / ``lightning-agent`` processes in tests, and proving none outlive the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tests.helpers import wait_until
from tests.helpers.console import assert_no_internal_errors

BIN_DIR = Path(sys.executable).parent
LIGHTNING_CTL = str(BIN_DIR / "lightning-ctl")
LIGHTNING_AGENT = str(BIN_DIR / "lightning-agent")


@dataclass
class AppRun:
    """A finished ``lightning-ctl run``."""

    exit_code: int
    stdout: str
    stderr: str
    pids: set[int] = field(default_factory=set)
    """Every process of the app seen while it ran (control plane, agent, works)."""


class AppProcess:
    """A running ``lightning-ctl run``, in its own process group, with its output collected line by line."""

    def __init__(self, app_file: str | Path, *args: str, cwd: str | Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [LIGHTNING_CTL, "run", str(app_file), "--log-level", "warning", *args],
            cwd=str(cwd or Path(app_file).parent),
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self.pids: set[int] = {self.proc.pid}
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout_lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr_lines), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, sink: list[str]) -> None:  # noqa: ANN001
        for raw in iter(stream.readline, b""):
            sink.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

    @property
    def stdout(self) -> str:
        """Everything printed on stdout so far."""
        return "\n".join(self.stdout_lines)

    def record_pids(self) -> set[int]:
        """Add the app's current process tree to ``pids``."""
        try:
            self.pids.update(p.pid for p in psutil.Process(self.proc.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            pass
        return self.pids

    def wait_for_line(self, text: str, timeout_s: float = 15.0) -> str:
        """The first stdout line containing ``text``; fails after ``timeout_s``."""
        def find() -> str | None:
            self.record_pids()
            return next((line for line in list(self.stdout_lines) if text in line), None)

        return wait_until(find, timeout_s, what=f"a line containing {text!r}; stdout so far:\n{self.stdout}")

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the control plane process only."""
        self.proc.send_signal(sig)

    def wait(self, timeout_s: float = 30.0) -> AppRun:
        """Wait for the app to end; kill everything it started and fail if it does not end in time."""
        deadline = time.monotonic() + timeout_s
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.record_pids()
            time.sleep(0.02)
        if self.proc.poll() is None:
            self.kill_all()
            raise AssertionError(f"lightning-ctl did not end within {timeout_s}s; stdout:\n{self.stdout}\nstderr:\n"
                                 + "\n".join(self.stderr_lines))
        for reader in self._readers:
            reader.join(timeout=5)
        self.check_output()
        return AppRun(self.proc.returncode, self.stdout, "\n".join(self.stderr_lines), set(self.pids))

    def check_output(self) -> None:
        """Fail if what the app printed so far shows an internal error (see ``tests.helpers.console``)."""
        assert_no_internal_errors(self.stdout + "\n" + "\n".join(self.stderr_lines), "lightning-ctl run")

    def kill_all(self) -> None:
        """SIGKILL every process of this app that is still alive (test cleanup)."""
        self.record_pids()
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for reader in self._readers:
            reader.join(timeout=2)


def run_app(app_file: str | Path, *args: str, timeout_s: float = 30.0, cwd: str | Path | None = None,
            env: dict[str, str] | None = None) -> AppRun:
    """Run ``lightning-ctl run app_file`` to its end."""
    process = AppProcess(app_file, *args, cwd=cwd, env=env)
    try:
        return process.wait(timeout_s)
    finally:
        process.kill_all()


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (zombies count as gone)."""
    out = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.add(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def same_process(pid: int, create_time: float) -> bool:
    """Whether ``pid`` is still the process that started at ``create_time`` (and not a zombie)."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and abs(process.create_time() - create_time) < 0.01
    except psutil.NoSuchProcess:
        return False


def create_times(pids: dict[str, int]) -> dict[str, float]:
    """{name: its process's create time} for {name: pid} (to tell the same process from a later one)."""
    return {name: psutil.Process(pid).create_time() for name, pid in pids.items()}


def wait_alive(pids: dict[str, int], times: dict[str, float], context: str = "") -> None:
    """Fail unless every process is still the same process (``times`` from :func:`create_times`)."""
    gone = {name: pid for name, pid in pids.items() if not same_process(pid, times[name])}
    assert not gone, f"work processes gone or replaced: {gone}\n{context}"
