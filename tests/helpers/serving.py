"""A running app's HTTP address, token and CLI, for tests of works that serve (``/works/<name>/``)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import requests

from tests.helpers.agents import Cluster, ControlPlane
from tests.helpers.processes import LIGHTNING_CTL


class App:
    """A running control plane's HTTP address, token and CLI."""

    def __init__(self, cluster: Cluster, cp: ControlPlane, timeout_s: float = 30.0) -> None:
        self.cluster = cluster
        self.cp = cp
        run = cluster.wait_until(lambda: _run_file(cluster.root / "home", cp.pid), "the run file", timeout_s)
        self.url: str = run["http_url"]
        self.token: str = run["token"]

    def get(self, path: str, token: str | None = "", **kwargs) -> requests.Response:
        """GET ``path`` with the operator's token ("" ), another one, or none (None); redirects not followed."""
        headers = {"Authorization": f"Bearer {self.token if token == '' else token}"} if token is not None else {}
        return requests.get(self.url + path, headers=headers, timeout=30, allow_redirects=False, **kwargs)

    def ctl(self, *args: str) -> tuple[int, str, str]:
        """``lightning-ctl ARGS`` against this app: exit status, stdout, stderr."""
        done = subprocess.run([LIGHTNING_CTL, *args], env=self.cluster.env(), capture_output=True, text=True,
                              timeout=60)
        return done.returncode, done.stdout, done.stderr

    def status(self) -> dict:
        """``lightning-ctl status --json``."""
        code, out, err = self.ctl("status", "--json")
        assert code == 0, err
        return json.loads(out)

    def work(self, name: str) -> dict:
        """One work of ``status``."""
        return next(w for w in self.status()["works"] if w["name"] == name)


def _run_file(home: Path, pid: int) -> dict | None:
    """The run file of the control plane ``pid`` once it has an HTTP address."""
    try:
        run = json.loads((home / ".lightning-ctl" / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return run if run.get("pid") == pid and run.get("http_url") else None
