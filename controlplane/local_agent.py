"""The local agent: a ``lightning-agent`` process started by ``lightning-ctl run``, exactly like a remote one.

It is spawned before the control plane has even imported gRPC, so that both processes (and the agent's fork
server, which preloads the app) start in parallel; the control plane's address follows through a pipe once the
server is bound. It lives in its own session (Ctrl-C in the terminal reaches the control plane only, which stops
the rest) and stops its works and exits when the control plane's process is gone.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

from controlplane.options import RunOptions


def app_home(app_path: str) -> Path:
    """Where lightning-ctl keeps what belongs to one app file (its local agent's home, its checkpoint)."""
    digest = hashlib.sha256(os.path.abspath(app_path).encode()).hexdigest()[:16]
    return Path.home() / ".lightning-ctl" / "apps" / digest


class LocalAgent:
    """Starts and stops the local agent process."""

    def __init__(self, options: RunOptions) -> None:
        read_end, self._address_pipe = os.pipe()
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "agent",
                    "--control-plane-fd", str(read_end),
                    "--name", "local",
                    "--local",
                    "--state-dir", str(app_home(options.app_path)),
                    "--agent-id", f"local-{uuid.uuid4().hex[:12]}",
                    "--parent-pid", str(os.getpid()),
                    "--stop-grace", str(options.stop_grace_s),
                    "--preload-app", os.path.abspath(options.app_path),
                    "--log-level", "debug" if options.log_level == "debug" else "warning",
                ],
                env={**os.environ, **options.env, "LIGHTNING_CTL_TOKEN": options.token},
                stdin=subprocess.DEVNULL,
                pass_fds=(read_end,),
                start_new_session=True,
            )
        finally:
            os.close(read_end)

    def send_address(self, address: str) -> None:
        """Tell the agent where the control plane listens (once the server is bound)."""
        with os.fdopen(self._address_pipe, "w") as pipe:
            pipe.write(address + "\n")

    def terminate(self) -> None:
        """Ask the agent to stop (it stops any work still running)."""
        if self.process.poll() is None:
            self.process.terminate()
