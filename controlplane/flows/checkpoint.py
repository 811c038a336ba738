"""Checkpoint: the app's state and the control plane's record of its works, in SQLite, to resume after a crash.

One row per app file: whether its last run ended, the flows' and works' state (calls ledger included), and per
work the process attempt, pid and last applied event. Written by the flow thread; acknowledgements to agents are
sent only after the checkpoint that covers them is committed, so an acknowledged event is never lost.

Opening checks the file's integrity: a database that is corrupt or truncated, or whose write-ahead log went
missing after a crash (the log holds the last commits: without it the state would silently go back in time), is
refused with :class:`CheckpointCorruptError` naming the file; :func:`move_aside` keeps it for inspection so that a
run can start over. Any failure to read or write later (disk full, read-only, I/O error) is a
:class:`CheckpointError` naming the file and the cause.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from lightning_ctl.controlplane.errors import CheckpointCorruptError, CheckpointError

T = TypeVar("T")
_SIDE_FILES = ("-wal", "-shm")
_WAL_MODE = 2
"""The read and write version bytes (offsets 18 and 19) of a database in WAL mode."""

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
        """Open (or create) the checkpoint at ``path`` and check its integrity.

        Raises:
            CheckpointCorruptError: the file is damaged (see the module's docstring).
            CheckpointError: it cannot be opened (permissions, I/O error...).
        """
        self.path = Path(path)
        self._check_write_ahead_log()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Used only by the flow thread after setup (check_same_thread off: set up on the main thread).
            self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise CheckpointError(f"cannot open the checkpoint {self.path}: {exc}", path=str(self.path)) from None
        try:
            self._guard(self._open, "open")
            self._last_saved: tuple[str, str] | None = None
            self.load()  # its values must decode too
        except CheckpointError:
            self._db.close()
            raise

    def _check_write_ahead_log(self) -> None:
        """Refuse a WAL-mode database left by a crash whose log is gone (its shared-memory index remains)."""
        try:
            with open(self.path, "rb") as file:
                header = file.read(20)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise CheckpointError(f"cannot read the checkpoint {self.path}: {exc}", path=str(self.path)) from None
        left_by_crash = Path(f"{self.path}-shm").exists() and not Path(f"{self.path}-wal").exists()
        if len(header) == 20 and header[18] == _WAL_MODE and left_by_crash:
            raise CheckpointCorruptError(
                f"the checkpoint {self.path} is missing its write-ahead log ({self.path.name}-wal): its last "
                "commits are lost", path=str(self.path))

    def _open(self) -> None:
        problems = [row[0] for row in self._db.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise CheckpointCorruptError(f"the checkpoint {self.path} is damaged: {'; '.join(problems[:3])}",
                                         path=str(self.path))
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a crash of the process never loses a commit
        self._db.execute(_SCHEMA)

    def _guard(self, operation: Callable[[], T], doing: str = "read") -> T:
        """``operation()``, with SQLite's and the OS's errors turned into errors naming the checkpoint."""
        try:
            return operation()
        except CheckpointError:
            raise
        except sqlite3.Error as exc:
            if _is_corruption(exc):
                raise CheckpointCorruptError(f"the checkpoint {self.path} is damaged: {exc}",
                                             path=str(self.path)) from None
            raise CheckpointError(f"cannot {doing} the checkpoint {self.path}: {exc}", path=str(self.path)) from None
        except OSError as exc:
            raise CheckpointError(f"cannot {doing} the checkpoint {self.path}: {exc}", path=str(self.path)) from None
        except ValueError as exc:  # JSON that does not decode
            raise CheckpointCorruptError(f"the checkpoint {self.path} holds an unreadable value: {exc}",
                                         path=str(self.path)) from None

    def load(self) -> SavedRun | None:
        """The previous run, if any."""
        return self._guard(self._load)

    def _load(self) -> SavedRun | None:
        row = self._db.execute("SELECT status, pid, port, saved_at, state, works FROM run WHERE id = 1").fetchone()
        if row is None:
            return None
        status, pid, port, saved_at, state, works = row
        return SavedRun(status, pid, port, saved_at, json.loads(state) if state else None,
                        json.loads(works) if works else None)

    def begin(self, pid: int, port: int, resumed: bool) -> None:
        """Mark the app running in this process (keeping the saved state when ``resumed``)."""
        if resumed:
            self._execute("UPDATE run SET status = 'running', pid = ?, port = ? WHERE id = 1", (pid, port))
        else:
            self._execute(
                "INSERT OR REPLACE INTO run (id, status, pid, port, started_at) VALUES (1, 'running', ?, ?, ?)",
                (pid, port, time.time()),
            )

    def save(self, state: dict[str, Any], works: dict[str, Any]) -> bool:
        """Commit the app's state and works record, when they changed; whether anything was written."""
        encoded = (json.dumps(state, allow_nan=True), json.dumps(works))
        if encoded == self._last_saved:
            return False
        self._execute("UPDATE run SET state = ?, works = ?, saved_at = ? WHERE id = 1", (*encoded, time.time()))
        self._last_saved = encoded
        return True

    def end(self) -> None:
        """Mark the app ended: the next run starts fresh."""
        self._execute("UPDATE run SET status = 'ended' WHERE id = 1")

    def _execute(self, sql: str, parameters: tuple[Any, ...] = ()) -> None:
        self._guard(lambda: self._db.execute(sql, parameters), "write")

    def close(self) -> None:
        """Close the database (what cannot be flushed any more is left to the write-ahead log)."""
        try:
            self._db.close()
        except sqlite3.Error:
            pass


def move_aside(path: str | Path) -> Path:
    """Rename a damaged checkpoint (and its side files) out of the way, keeping it for inspection; the new name."""
    target = Path(f"{path}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
    for suffix in ("", *_SIDE_FILES):
        try:
            os.replace(f"{path}{suffix}", f"{target}{suffix}")
        except FileNotFoundError:
            pass
    return target


def _is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)  # extended codes keep the primary low
    return "malformed" in str(exc) or "not a database" in str(exc)
