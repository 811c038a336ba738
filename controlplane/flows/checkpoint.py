"""Checkpoint: the app's state and the control plane's record of its works, in SQLite, to resume after a crash.

One row per app file: whether its last run ended, the flows' and works' state (calls ledger included), and per
work the process attempt, pid and last applied event. Written by the flow thread; acknowledgements to agents are
sent only after the checkpoint that covers them is committed, so an acknowledged event is never lost.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    status TEXT NOT NULL,          -- 'running' while the app runs, 'ended' once it ended
    pid INTEGER NOT NULL,          -- the control plane's process
    port INTEGER NOT NULL,
    started_at REAL NOT NULL,
    saved_at REAL,
    state TEXT,                    -- app.state as JSON
    works TEXT                     -- the control plane's record of work processes, as JSON
)
"""


@dataclass(frozen=True)
class SavedRun:
    """What a previous run of the app left."""

    status: str
    pid: int
    port: int
    saved_at: float | None
    state: dict[str, Any] | None
    works: dict[str, Any] | None

    @property
    def ended(self) -> bool:
        """Whether that run ended (nothing to resume)."""
        return self.status == "ended"


class Checkpoint:
    """The checkpoint database of one app file."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Used only by the flow thread after setup (check_same_thread off: set up on the main thread).
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a crash of the process never loses a commit
        self._db.execute(_SCHEMA)
        self._last_saved: tuple[str, str] | None = None

    def load(self) -> SavedRun | None:
        """The previous run, if any."""
        row = self._db.execute("SELECT status, pid, port, saved_at, state, works FROM run WHERE id = 1").fetchone()
        if row is None:
            return None
        status, pid, port, saved_at, state, works = row
        return SavedRun(status, pid, port, saved_at, json.loads(state) if state else None,
                        json.loads(works) if works else None)

    def begin(self, pid: int, port: int, resumed: bool) -> None:
        """Mark the app running in this process (keeping the saved state when ``resumed``)."""
        if resumed:
            self._db.execute("UPDATE run SET status = 'running', pid = ?, port = ? WHERE id = 1", (pid, port))
        else:
            self._db.execute(
                "INSERT OR REPLACE INTO run (id, status, pid, port, started_at) VALUES (1, 'running', ?, ?, ?)",
                (pid, port, time.time()),
            )

    def save(self, state: dict[str, Any], works: dict[str, Any]) -> bool:
        """Commit the app's state and works record, when they changed; whether anything was written."""
        encoded = (json.dumps(state, allow_nan=True), json.dumps(works))
        if encoded == self._last_saved:
            return False
        self._db.execute("UPDATE run SET state = ?, works = ?, saved_at = ? WHERE id = 1", (*encoded, time.time()))
        self._last_saved = encoded
        return True

    def end(self) -> None:
        """Mark the app ended: the next run starts fresh."""
        self._db.execute("UPDATE run SET status = 'ended' WHERE id = 1")

    def close(self) -> None:
        """Close the database."""
        self._db.close()
