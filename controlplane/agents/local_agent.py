"""The local agent: a ``lightning-agent`` process started by ``lightning-ctl run``, exactly like a remote one.

It is spawned before the control plane has even imported gRPC, so that both processes (and the agent's fork
server, which preloads the app) start in parallel; the control plane's address follows through a pipe once the
server is bound. It lives in its own session (Ctrl-C in the terminal reaches the control plane only, which stops
the rest) and stops its works and exits when the control plane's process is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from lightning_ctl.controlplane.home import app_home
from lightning_ctl.controlplane.options import RunOptions
from lightning_ctl.sdk._cli_values import CREDENTIAL_VARIABLES
from lightning_ctl.sdk._files import write_atomic
from lightning_ctl.sdk._launch import module_command


class LocalAgent:
    """Starts (or, after a crash of the previous control plane, finds again) and stops the local agent."""

    def __init__(self, options: RunOptions) -> None:
        self.home = app_home(options.app_path) / "local"
        self.address_file = self.home / "control-plane"
        self._address_pipe: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        # A living agent from a crashed control plane kept the works running: reuse it rather than start another.
        self.pid = _living_agent(self.home / "agent.pid")
        if self.pid is None:
            self.pid = self._spawn(options)

    def _spawn(self, options: RunOptions) -> int:
        read_end, self._address_pipe = os.pipe()
        try:
            self.process = subprocess.Popen(
                module_command(
                    "lightning_ctl.agent",
                    "--control-plane-fd", str(read_end),
                    "--control-plane-file", str(self.address_file),
                    "--name", "local",
                    "--local",
                    "--state-dir", str(self.home.parent),
                    "--parent-pid", str(os.getpid()),
                    "--stop-grace", str(options.stop_grace_s),
                    "--preload-app", os.path.abspath(options.app_path),
                    "--log-level", "debug" if options.log_level == "debug" else "warning",
                    *(("--ports", "{}-{}".format(*options.work_ports)) if options.work_ports else ()),
                ),
                # Never the operator's token (nor a join token): works inherit the agent's environment.
                env={k: v for k, v in {**os.environ, **options.env}.items() if k not in CREDENTIAL_VARIABLES},
                stdin=subprocess.DEVNULL,
                pass_fds=(read_end,),
                start_new_session=True,
            )
        finally:
            os.close(read_end)
        return self.process.pid

    def send_address(self, address: str, join_token: str) -> None:
        """Tell the agent where the control plane listens, and the one-time join token it registers with.

        Called once the server is bound; both go through the pipe, never in an environment a work could
        inherit, nor in a file.

        A reused agent (after a crash of the previous control plane) has its credential already; it reads the new
        address from the address file on its next reconnection.
        """
        write_atomic(self.address_file, address + "\n")
        if self._address_pipe is not None:
            with os.fdopen(self._address_pipe, "w") as pipe:
                pipe.write(f"{address}\n{join_token}\n")
            self._address_pipe = None

    def terminate(self) -> None:
        """Ask the agent to stop (it stops any work still running)."""
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
        elif self.pid is not None and _alive(self.pid):
            os.kill(self.pid, signal.SIGTERM)

    def wait(self, timeout_s: float) -> bool:
        """Wait for the agent to exit; whether it did within ``timeout_s``."""
        if self.process is not None:
            try:
                self.process.wait(timeout_s)
                return True
            except subprocess.TimeoutExpired:
                return False
        deadline = time.monotonic() + timeout_s
        while self.pid is not None and _alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.pid is None or not _alive(self.pid)

    def kill(self) -> None:
        """SIGKILL the agent (it did not stop in time)."""
        if self.pid is not None and _alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def _living_agent(pid_file: Path) -> int | None:
    """The pid of the agent recorded in ``pid_file`` if that very process (same start time) still runs."""
    try:
        pid_text, started = pid_file.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    import psutil  # only on this path: the common start does not pay for it

    try:
        process = psutil.Process(pid)
        if abs(process.create_time() - float(started)) < 0.01 and process.status() != psutil.STATUS_ZOMBIE:
            return pid
    except psutil.Error:
        pass
    return None
