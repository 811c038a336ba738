"""Multi-machine set-ups on one machine: a ``lightning-ctl run --no-local-agent`` control plane and separate
``lightning-agent`` processes joining it, each with its output captured and all of them killed at teardown.

    def test_x(cluster):                                   # the fixture (registered in tests/conftest.py)
        cp = cluster.control_plane(APPS / "app.py")        # --no-local-agent --port 0 --token T --join-token J
        a = cluster.agent("a", "--gpus", "0,1")            # joins cp with J; work, state dirs under tmp_path/agent-a
        run = cp.wait(20)                                  # AppRun: exit code, stdout, stderr
        assert a.owns_bundle_folder(cwd_a_work_printed)    # ran from a code bundle this agent unpacked

Every process is started in its own session with ``LIGHTNING_CTL_E2E_TAG=<unique tag>`` in its environment
(inherited by agents' fork servers and work processes), so teardown finds and SIGKILLs whatever is left, even
orphans, and with HOME set to ``tmp_path/home`` (no state shared between tests or with the user's own
``~/.lightning-ctl``). An optional ``wrapper`` prefix runs a process under e.g. ``ip netns exec NS``.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import IO, Callable, Iterator, Sequence, TypeVar

import psutil
import pytest

from lightning_ctl.sdk._cli_values import CREDENTIAL_VARIABLES
from tests.helpers import wait_until
from tests.helpers.console import assert_no_internal_errors
from tests.helpers.processes import LIGHTNING_AGENT, LIGHTNING_CTL, AppRun

TAG_VAR = "LIGHTNING_CTL_E2E_TAG"
"""The same variable ``tests.e2e`` tags its apps with."""

_LISTENING = re.compile(r"control_plane_listening\s.*?address=(\S+)")
_DEFAULT = object()
T = TypeVar("T")


def _base_env(extra: dict[str, str] | None, drop: Sequence[str] = ()) -> dict[str, str]:
    """This process's environment without variables that would silently change the CLIs' options."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LIGHTNING_AGENT_") and k not in CREDENTIAL_VARIABLES and k not in drop}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ in the repository's app folders
    env.update(extra or {})
    return env


class CapturedProcess:
    """A process in its own session whose stdout and stderr lines are collected as they come."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str | Path) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(argv, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.started_at = time.monotonic()
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self.pids: set[int] = {self.proc.pid}
        self._readers = [threading.Thread(target=self._read, args=(stream, sink), daemon=True)
                         for stream, sink in ((self.proc.stdout, self.stdout_lines),
                                              (self.proc.stderr, self.stderr_lines))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[bytes], sink: list[str]) -> None:
        for raw in iter(stream.readline, b""):
            sink.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

    @property
    def pid(self) -> int:
        """The process id."""
        return self.proc.pid

    @property
    def stdout(self) -> str:
        """Everything printed on stdout so far."""
        return "\n".join(self.stdout_lines)

    @property
    def stderr(self) -> str:
        """Everything printed on stderr so far."""
        return "\n".join(self.stderr_lines)

    def output(self) -> str:
        """Both streams, for assertion messages."""
        return f"--- {' '.join(self.argv[:3])}... stdout:\n{self.stdout}\n--- stderr:\n{self.stderr}"

    def record_pids(self) -> set[int]:
        """Add the current process tree to ``pids``."""
        try:
            self.pids.update(p.pid for p in psutil.Process(self.proc.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            pass
        return self.pids

    def lines_with(self, text: str, stream: str = "stderr") -> list[str]:
        """The lines of ``stream`` containing ``text``."""
        lines = self.stderr_lines if stream == "stderr" else self.stdout_lines
        return [line for line in list(lines) if text in line]

    def wait_for(self, text: str, stream: str = "stderr", timeout_s: float = 15.0, count: int = 1) -> list[str]:
        """Wait until ``count`` lines of ``stream`` contain ``text``; those lines."""
        def found() -> list[str] | None:
            self.record_pids()
            lines = self.lines_with(text, stream)
            return lines if len(lines) >= count else None

        return wait_until(found, timeout_s, what=f"{count} line(s) with {text!r} on {stream}\n{self.output()}")

    def wait_exit(self, timeout_s: float = 15.0) -> int:
        """The exit status, once the process has ended (fails after ``timeout_s``)."""
        def ended() -> bool:
            self.record_pids()
            return self.proc.poll() is not None

        wait_until(ended, timeout_s, what=f"{self.argv[0]} to exit\n{self.output()}")
        for reader in self._readers:
            reader.join(timeout=5)
        self.check_output()
        return self.proc.returncode

    def check_output(self) -> None:
        """Fail if what the process printed so far shows an internal error (see ``tests.helpers.console``)."""
        assert_no_internal_errors(self.stdout + "\n" + self.stderr, " ".join(self.argv[:2]))

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the process only."""
        try:
            self.proc.send_signal(sig)
        except ProcessLookupError:
            pass

    def kill_all(self) -> None:
        """SIGKILL the process and every descendant seen (test cleanup)."""
        self.record_pids()
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for reader in self._readers:
            reader.join(timeout=2)


class ControlPlane(CapturedProcess):
    """``lightning-ctl run APP --no-local-agent --log-level info``: works run on remote agents only."""

    def __init__(self, app_file: str | Path, *args: str, token: str | None, env: dict[str, str],
                 cwd: str | Path, wrapper: Sequence[str] = (), join_token: str | None = None,
                 local_agent: bool = False) -> None:
        token_args = ["--token", token] if token is not None else []
        if join_token is not None:
            token_args += ["--join-token", join_token]
        local = [] if local_agent else ["--no-local-agent"]
        super().__init__([*wrapper, LIGHTNING_CTL, "run", str(app_file), *local, "--log-level", "info",
                          *token_args, *args], env, cwd)
        self._address: str | None = None

    @property
    def address(self) -> str:
        """HOST:PORT it listens on (from its ``control_plane_listening`` log line)."""
        if self._address is None:
            line = self.wait_for("control_plane_listening", timeout_s=15)[0]
            match = _LISTENING.search(line)
            assert match, f"cannot read the address in {line!r}"
            self._address = match.group(1)
        return self._address

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.address.rpartition(":")[2])

    @property
    def loopback_address(self) -> str:
        """127.0.0.1:PORT."""
        return f"127.0.0.1:{self.port}"

    def wait_for_line(self, text: str, timeout_s: float = 15.0) -> str:
        """The first stdout line containing ``text``."""
        return self.wait_for(text, "stdout", timeout_s)[0]

    def wait(self, timeout_s: float = 30.0) -> AppRun:
        """Wait for the app to end; the run (exit code, output)."""
        code = self.wait_exit(timeout_s)
        return AppRun(code, self.stdout, self.stderr, set(self.pids))


class AgentProcess(CapturedProcess):
    """``lightning-agent`` with its own ``--work-dir`` and ``--state-dir`` under ``root/agent-<name>``, or, with
    ``own_home=False``, as a user starts it: no ``--name``, ``--work-dir`` nor ``--state-dir`` (the defaults under
    HOME, shared with the other agents of the machine; ``name`` is then only the test's label)."""

    def __init__(self, address: str, name: str, root: Path, *args: str, token: str | None, env: dict[str, str],
                 wrapper: Sequence[str] = (), may_exit: bool = False, own_home: bool = True) -> None:
        """Start the agent; ``token`` is the join token it registers with the first time (None: none)."""
        self.name = name
        self.root = root / f"agent-{name}"
        self.may_exit = may_exit
        """Whether the agent ending while its app runs is expected (otherwise :meth:`Cluster.wait_app` fails)."""
        self.work_dir = self.root / "work"
        self.state_dir = self.root / "state"
        if token is not None:
            env = {**env, "LIGHTNING_AGENT_JOIN_TOKEN": token}
        home_args = ["--name", name, "--work-dir", str(self.work_dir), "--state-dir", str(self.state_dir)]
        super().__init__([*wrapper, LIGHTNING_AGENT, "--control-plane", address, *(home_args if own_home else []),
                          *args], env, root)

    @property
    def bundle_roots(self) -> tuple[Path, ...]:
        """Where this agent may unpack the app's code bundles: ``<work-dir>/lightning-bundles`` (the original
        layout) or ``<state-dir>/<name>/bundles`` (the agent's home)."""
        return self.work_dir / "lightning-bundles", self.state_dir / self.name / "bundles"

    def bundles(self) -> list[Path]:
        """The code bundles unpacked here (complete ones: folders named by a 64-hex-digit digest)."""
        return sorted(p for root in self.bundle_roots if root.is_dir() for p in root.iterdir()
                      if p.is_dir() and re.fullmatch(r"[0-9a-f]{64}", p.name))

    def owns_bundle_folder(self, folder: str | Path) -> bool:
        """Whether ``folder`` (a work's cwd) is, or is inside, a code bundle unpacked by this agent."""
        path = Path(folder).resolve()
        return any(path.is_relative_to(root.resolve()) and path != root.resolve() for root in self.bundle_roots)


class Cluster:
    """Control planes and agents of one test; :meth:`close` kills them all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.token = secrets.token_urlsafe(24)
        """The operator's token of the cluster's control planes."""
        self.join_token = secrets.token_urlsafe(24)
        """The join token agents register with (``--join-token`` of the control planes)."""
        self.tag = uuid.uuid4().hex
        self.processes: list[CapturedProcess] = []
        self.control_planes: list[ControlPlane] = []
        self.agents: list[AgentProcess] = []

    def env(self, extra: dict[str, str] | None = None, drop: Sequence[str] = ()) -> dict[str, str]:
        """The environment processes of this cluster start with.

        HOME is a folder of the test's own, so that what lightning-ctl keeps in ``~/.lightning-ctl`` (token, run
        files, each app's checkpoint) neither leaks between tests nor touches the user's.
        """
        home = self.root / "home"
        home.mkdir(exist_ok=True)
        return _base_env({"HOME": str(home), **(extra or {}), TAG_VAR: self.tag}, drop)

    def control_plane(self, app_file: str | Path, *args: str, token: str | None | object = _DEFAULT,
                      env: dict[str, str] | None = None, drop_env: Sequence[str] = (),
                      wrapper: Sequence[str] = (), stop_grace: float | None = 2.0,
                      join_token: str | None | object = _DEFAULT, local_agent: bool = False) -> ControlPlane:
        """Start ``lightning-ctl run app_file --no-local-agent`` (any free port unless ``--port`` is in args; with
        ``local_agent``, its own local agent too).

        Works get ``stop_grace`` seconds to stop when the app ends (as in ``tests.e2e.test_runtime``), so a work
        slow to stop costs a test seconds, not a timeout; None keeps lightning-ctl's default (30 s).
        """
        if "--port" not in args:
            args = (*args, "--port", "0")
        if stop_grace is not None and "--stop-grace" not in args:
            args = (*args, "--stop-grace", f"{stop_grace:g}")
        token = self.token if token is _DEFAULT else token
        join_token = self.join_token if join_token is _DEFAULT else join_token
        process = ControlPlane(app_file, *args, token=token, env=self.env(env, drop_env),  # type: ignore[arg-type]
                               cwd=self.root, wrapper=wrapper, join_token=join_token,  # type: ignore[arg-type]
                               local_agent=local_agent)
        self.processes.append(process)
        self.control_planes.append(process)
        return process

    def agent(self, name: str, *args: str, control_plane: ControlPlane | str | None = None,
              token: str | None | object = _DEFAULT, env: dict[str, str] | None = None,
              wrapper: Sequence[str] = (), may_exit: bool = False, own_home: bool = True) -> AgentProcess:
        """Start ``lightning-agent --name name`` joining ``control_plane`` (default: the last one started) with the
        cluster's join token (or ``token``); ``own_home=False`` starts it without name and folders, as a user would
        (see :class:`AgentProcess`)."""
        if control_plane is None:
            control_plane = self.control_planes[-1]
        address = control_plane if isinstance(control_plane, str) else control_plane.loopback_address
        token = self.join_token if token is _DEFAULT else token
        process = AgentProcess(address, name, self.root, *args, token=token,  # type: ignore[arg-type]
                               env=self.env(env), wrapper=wrapper, may_exit=may_exit, own_home=own_home)
        self.processes.append(process)
        self.agents.append(process)
        return process

    def output(self) -> str:
        """The output of every process of the cluster, for assertion messages."""
        return "\n".join(p.output() for p in self.processes)

    def wait_until(self, predicate: Callable[[], T], what: str, timeout_s: float = 15.0) -> T:
        """``wait_until`` that shows every process's output when it times out."""
        try:
            return wait_until(predicate, timeout_s, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.output()}") from None

    def wait_app(self, timeout_s: float = 20.0, control_plane: ControlPlane | None = None) -> AppRun:
        """Wait for ``control_plane`` (default: the last started) to end; fail at once if an agent dies first."""
        cp = control_plane or self.control_planes[-1]

        def ended() -> bool:
            cp.record_pids()
            if cp.proc.poll() is not None:
                return True
            for agent in self.agents:
                if not agent.may_exit and agent.proc.poll() is not None:
                    raise AssertionError(f"agent {agent.name} exited with status {agent.proc.returncode} while the "
                                         f"app was running\n{self.output()}")
            return False

        try:
            wait_until(ended, timeout_s, what="the app to end")
        except AssertionError as exc:
            if "while the app was running" in str(exc):
                raise
            raise AssertionError(f"{exc}\n{self.output()}") from None
        return cp.wait(5)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """SIGKILL every process started, their descendants, and anything else carrying this cluster's tag; then
        fail if any of them printed an internal error."""
        for process in reversed(self.processes):
            process.kill_all()
        for proc in psutil.process_iter(["pid"]):
            try:
                if proc.environ().get(TAG_VAR) == self.tag:
                    os.kill(proc.pid, signal.SIGKILL)
            except (psutil.Error, OSError):
                continue
        for process in self.processes:
            process.check_output()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A :class:`Cluster` in ``tmp_path``, torn down (every process killed) after the test."""
    with Cluster(tmp_path) as c:
        yield c
