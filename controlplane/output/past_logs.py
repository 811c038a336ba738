"""Past output: what ``lightning-ctl logs`` shows once an app has ended, read from its local agent's log files.

While an app runs, the control plane serves its works' output. Once it has ended, the local agent's rotated files
(``<app folder>/local/logs/<work>/<attempt>.log``, see ``sdk._work_log_format``) still hold it; works that ran on
remote agents keep theirs on those machines. Only files written during the app's last run are read (a backup
rotated away by an earlier run is older than the run's start).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from lightning_ctl.controlplane.api.app_view import LogLine
from lightning_ctl.controlplane.api.names import resolve_work_names
from lightning_ctl.controlplane.home import AppRecord, app_home, known_apps
from lightning_ctl.sdk._work_log_format import DIR_NAME, parse_line
from lightning_ctl.sdk.errors import LightningError

LOCAL_AGENT = "local"
"""The local agent's name, and so its home's folder name in the app folder."""


class NoPastRunError(LightningError):
    """No ended app's output is kept on this machine (for the app asked about)."""


def last_run(app_path: str | None = None) -> AppRecord:
    """The run of ``app_path`` (default: the app started most recently on this machine).

    Raises:
        NoPastRunError: nothing is known of that app here.
    """
    apps = known_apps()
    if app_path is not None:
        folder = app_home(app_path)
        apps = [record for record in apps if record.folder == folder]
        if not apps:
            raise NoPastRunError(f"{app_path} has not run on this machine (no output of it is kept here)")
    if not apps:
        raise NoPastRunError("no app is running on this machine, and none has run here")
    return apps[0]


def _files(run: AppRecord, work_folder: Path) -> list[Path]:
    """The work's files of the run, oldest first: for each attempt, its backups (highest number first), then it."""
    def attempt(path: Path) -> int:
        return int(path.name.split(".", 1)[0])

    files: list[Path] = []
    for current in sorted(work_folder.glob("*.log"), key=attempt):
        backups = sorted(work_folder.glob(f"{current.name}.*"), key=lambda p: -int(p.suffix[1:] or 0))
        files.extend(p for p in (*backups, current) if p.stat().st_mtime >= run.started_at - 1.0)
    return files


def read_past_lines(
    run: AppRecord, patterns: Sequence[str] = (), tail: int | None = None, since: float | None = None
) -> list[LogLine]:
    """The lines the run's works wrote, in time order, chosen as ``lightning-ctl logs`` chooses them.

    Raises:
        WorkNameError: a pattern names no work of the run, or several.
    """
    logs = run.folder / LOCAL_AGENT / DIR_NAME
    folders = {p.name: p for p in logs.iterdir() if p.is_dir()} if logs.is_dir() else {}
    names = resolve_work_names(patterns, folders) if patterns else sorted(folders)
    lines: list[LogLine] = []
    for name in names:
        for path in _files(run, folders[name]):
            with open(path, encoding="utf-8", errors="replace") as file:
                for raw in file:
                    parsed = parse_line(raw.rstrip("\n"))
                    if parsed is not None and (since is None or parsed[0] >= since):
                        lines.append(LogLine(name, *parsed))
    lines.sort(key=lambda line: line.timestamp)  # stable: each work's own order is kept
    if tail is not None:
        return lines[len(lines) - tail:] if tail else []
    return lines


def describe(run: AppRecord) -> str:
    """One line saying whose output this is, for stderr."""
    return f"{run.app_path} is not running: its output from the local agent's files ({os.fspath(run.folder)})"
