"""Run files: how ``lightning-ctl status/logs/...`` find the app running on this machine with no flags.

While an app runs, its control plane keeps ``~/.lightning-ctl/runs/<pid>.json`` (address, token, pid, app path)
and points ``~/.lightning-ctl/run.json`` at itself, both owner-only (0600, in a 0700 folder): they hold the token.
At exit it removes its own file, and ``run.json`` (only if it still names this pid) then names the newest other app
still running, or is removed. Readers skip files whose process is gone (or whose pid now belongs to a newer
process), so a control plane killed with SIGKILL leaves nothing that misleads; the next app to start removes them.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from lightning_ctl.controlplane.errors import NoRunningAppError
from lightning_ctl.controlplane.home import home
from lightning_ctl.sdk._files import write_atomic

LATEST = "run.json"
RUNS = "runs"


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What a client needs to reach a running app."""

    address: str
    """HOST:PORT of a plain (non-TLS) listener, on loopback when the app listens there."""
    token: str
    pid: int
    """The control plane's pid."""
    app_path: str
    started_at: float
    """Epoch seconds the run file was written (after the process started)."""
    http_url: str = ""
    """The app's HTTP server (``http://127.0.0.1:7501``), "" when it serves none."""


def write_run_file(info: RunInfo, directory: Path | None = None) -> Path:
    """Record ``info`` as a running app and as the latest one; the path of its own run file."""
    directory = directory or home()
    runs = directory / RUNS
    runs.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    text = json.dumps(asdict(info), indent=2) + "\n"
    own = runs / f"{info.pid}.json"
    write_atomic(own, text)
    write_atomic(directory / LATEST, text)
    prune_stale(directory)
    return own


def prune_stale(directory: Path | None = None) -> None:
    """Remove the run files of control planes that are gone (killed ones never remove their own)."""
    for path in ((directory or home()) / RUNS).glob("*.json"):
        info = read_run_file(path)
        if info is not None and not is_alive(info):
            try:
                path.unlink()
            except OSError:
                pass


def read_run_file(path: Path) -> RunInfo | None:
    """The run recorded in ``path``; None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
        return RunInfo(
            str(data["address"]),
            str(data["token"]),
            int(data["pid"]),
            str(data.get("app_path", "")),
            float(data.get("started_at", 0.0)),
            str(data.get("http_url", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_alive(info: RunInfo) -> bool:
    """Whether the control plane of ``info`` still runs (a pid reused by a newer process does not count)."""
    import psutil

    try:
        process = psutil.Process(info.pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.create_time() <= info.started_at + 1.0
    except psutil.Error:
        return False


def live_runs(directory: Path | None = None) -> list[RunInfo]:
    """Every app running on this machine according to its run file, newest first."""
    runs = (directory or home()) / RUNS
    found = [info for path in sorted(runs.glob("*.json")) if (info := read_run_file(path)) and is_alive(info)]
    return sorted(found, key=lambda info: info.started_at, reverse=True)


def find_running_app(directory: Path | None = None) -> RunInfo:
    """The app ``run.json`` names, or else the newest app still running.

    Raises:
        NoRunningAppError: no app is running on this machine (for this user).
    """
    directory = directory or home()
    latest = read_run_file(directory / LATEST)
    if latest is not None and is_alive(latest):
        return latest
    others = live_runs(directory)
    if others:
        return others[0]
    gone = f" (the last one, pid {latest.pid}, is gone)" if latest is not None else ""
    raise NoRunningAppError(
        f"no app is running on this machine{gone}: start one with `lightning-ctl run APP_FILE`, "
        "or pass --address and --token"
    )


def remove_run_file(pid: int, directory: Path | None = None) -> None:
    """Forget the app of ``pid``; ``run.json`` then names the newest other running app (or goes)."""
    directory = directory or home()
    try:
        (directory / RUNS / f"{pid}.json").unlink()
    except OSError:
        pass
    latest = read_run_file(directory / LATEST)
    if latest is None or latest.pid != pid:
        return
    others = [info for info in live_runs(directory) if info.pid != pid]
    try:
        if others:
            write_atomic(directory / LATEST, json.dumps(asdict(others[0]), indent=2) + "\n")
        else:
            (directory / LATEST).unlink()
    except OSError:
        pass  # another app's start or end got there first
