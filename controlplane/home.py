"""Where lightning-ctl keeps what outlives one command on this machine: the token, run files, each app's folder.

Everything lives under ``~/.lightning-ctl`` (looked up at each call, so that a HOME set by a test or a user
counts):

    ~/.lightning-ctl/token                 the operator's token (0600)
    ~/.lightning-ctl/run.json, runs/       how operating commands find the app running here (see run_file)
    ~/.lightning-ctl/apps/<digest>/        one app file: app.json (which file, when last run), its checkpoint,
                                           and its local agent's home (local/, with the works' output files)
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from lightning_ctl.sdk._files import write_atomic

APP_RECORD = "app.json"


def home() -> Path:
    """``~/.lightning-ctl``."""
    return Path.home() / ".lightning-ctl"


def token_file() -> Path:
    """The file holding the operator's token."""
    return home() / "token"


def app_home(app_path: str) -> Path:
    """The folder of one app file (its checkpoint, its local agent's home), keyed by the file's absolute path."""
    digest = hashlib.sha256(os.path.abspath(app_path).encode()).hexdigest()[:16]
    return home() / "apps" / digest


@dataclass(frozen=True, slots=True)
class AppRecord:
    """Which app file an app folder belongs to, and when it was last run (what ``app.json`` holds)."""

    app_path: str
    started_at: float
    folder: Path


def remember_app(app_path: str) -> None:
    """Record in the app's folder which file it is and that a run starts now (for reading its logs later)."""
    folder = app_home(app_path)
    write_atomic(folder / APP_RECORD, json.dumps({"app_path": os.path.abspath(app_path), "started_at": time.time()}))


def known_apps() -> list[AppRecord]:
    """The apps run on this machine (by this user), the most recently started first."""
    records = []
    for record_file in (home() / "apps").glob(f"*/{APP_RECORD}"):
        try:
            data = json.loads(record_file.read_text())
            records.append(AppRecord(str(data["app_path"]), float(data["started_at"]), record_file.parent))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(records, key=lambda record: record.started_at, reverse=True)
