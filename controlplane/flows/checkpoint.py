"""Checkpoint: the app's state and the control plane's record of its works, in SQLite, to resume after a crash.

    run       one row: whether the app's last run ended, its control plane's pid and port
    state     one row per component attribute and per call ledger (``state_rows.py``), written when it changed
    works     one row per work: the record of its current process (``WorkProcessState.to_record``)
    attempts  per work, the highest attempt ever launched: kept by fresh starts, so that no attempt number is ever
              used twice for one app (a process left by an earlier run is never taken for one of the new run)

Written by the flow thread, in one transaction per save, with only what changed. Commands leave for agents only
after the save that records them (write-ahead: a restarted control plane never forgets a call, a launch or a stop
it sent, nor numbers a new one like an old one), and acknowledgements only after the save that covers the events
they acknowledge (an acknowledged event is never lost).

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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import structlog

from lightning_ctl.controlplane.errors import CheckpointCorruptError, CheckpointError
from lightning_ctl.controlplane.flows.state_rows import RowKey, state_from_rows

log = structlog.get_logger(component="checkpoint")

T = TypeVar("T")
_SIDE_FILES = ("-wal", "-shm")
_WAL_MODE = 2
"""The read and write version bytes (offsets 18 and 19) of a database in WAL mode."""

FORMAT_VERSION = 2
"""``PRAGMA user_version`` of the current layout (1, implicit: the whole state in one JSON column)."""
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS run (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        status TEXT NOT NULL,          -- 'running' while the app runs, 'ended' once it ended
        pid INTEGER NOT NULL,          -- the control plane's process
        port INTEGER NOT NULL,
        started_at REAL NOT NULL,
        saved_at REAL
    )""",
    # Rowid tables, not WITHOUT ROWID: a large value lives in its own overflow pages, and writing a small row next
    # to it never moves it (an index b-tree's balancing copies whole rows: 72 % of a core for 100 MB of state).
    """CREATE TABLE IF NOT EXISTS state (
        component TEXT NOT NULL,       -- the component's place in app.state, as a JSON list ("app" for the stage)
        part TEXT NOT NULL,            -- 'vars.<attribute>' or 'calls'
        value TEXT NOT NULL,           -- JSON
        PRIMARY KEY (component, part)
    )""",
    "CREATE TABLE IF NOT EXISTS works (name TEXT PRIMARY KEY, record TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS attempts (name TEXT PRIMARY KEY, last INTEGER NOT NULL) WITHOUT ROWID",
)


@dataclass(frozen=True)
class SavedRun:
    """What a previous run of the app left."""

    status: str
    pid: int
    port: int
    saved_at: float | None
    state: dict[str, Any] | None
    """app.state as saved (None: nothing was saved)."""
    works: dict[str, Any] | None
    """The record of each work's process, by work name."""

    @property
    def ended(self) -> bool:
        """Whether that run ended (nothing to resume)."""
        return self.status == "ended"


@dataclass
class CheckpointChanges:
    """What changed since the last save."""

    rows: dict[RowKey, str | None] = field(default_factory=dict)
    """State rows as JSON text (None: the row is gone)."""
    works: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The records of the works whose process record changed."""

    def __bool__(self) -> bool:
        return bool(self.rows or self.works)


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
            self._attempts = self.attempts()
            """The highest attempt of each work as written (only a higher one is written again)."""
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
        self._upgrade()
        for statement in _SCHEMA:
            self._db.execute(statement)

    def _guard(self, operation: Callable[[], T], doing: str = "read") -> T:
        """``operation()``, with SQLite's and the OS's errors turned into errors naming the checkpoint."""
        with self._errors(doing):
            return operation()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
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

    def _upgrade(self) -> None:
        """Set an older layout's run aside (it cannot be resumed by this version), keeping nothing of it."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version == FORMAT_VERSION:
            return
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(run)")}
        if "state" in columns:
            log.warning("checkpoint_format_unsupported", path=str(self.path),
                        reason="written by an older lightning-ctl: the app starts over")
            self._db.execute("DROP TABLE run")
        self._db.execute(f"PRAGMA user_version = {FORMAT_VERSION}")

    def load(self) -> SavedRun | None:
        """The previous run, if any."""
        return self._guard(self._load)

    def _load(self) -> SavedRun | None:
        row = self._db.execute("SELECT status, pid, port, saved_at FROM run WHERE id = 1").fetchone()
        if row is None:
            return None
        status, pid, port, saved_at = row
        rows = {(component, part): value for component, part, value in
                self._db.execute("SELECT component, part, value FROM state")}
        works = {name: json.loads(record) for name, record in self._db.execute("SELECT name, record FROM works")}
        return SavedRun(status, pid, port, saved_at, state_from_rows(rows) if rows else None, works or None)

    def attempts(self) -> dict[str, int]:
        """The highest attempt ever launched of each work of this app (fresh starts included)."""
        return self._guard(lambda: dict(self._db.execute("SELECT name, last FROM attempts").fetchall()))

    def begin(self, pid: int, port: int, resumed: bool) -> None:
        """Mark the app running in this process (keeping the saved state when ``resumed``, else forgetting it)."""
        with self._transaction("write"):
            if resumed:
                self._db.execute("UPDATE run SET status = 'running', pid = ?, port = ? WHERE id = 1", (pid, port))
                return
            self._db.execute("DELETE FROM state")
            self._db.execute("DELETE FROM works")
            self._db.execute(
                "INSERT OR REPLACE INTO run (id, status, pid, port, started_at) VALUES (1, 'running', ?, ?, ?)",
                (pid, port, time.time()),
            )

    def save(self, changes: CheckpointChanges) -> bool:
        """Commit what changed, in one transaction; whether anything was written."""
        if not changes:
            return False
        written = [(component, part, value) for (component, part), value in changes.rows.items() if value is not None]
        gone = [key for key, value in changes.rows.items() if value is None]
        records = [(name, json.dumps(record)) for name, record in changes.works.items()]
        attempts = [(name, record["attempt"]) for name, record in changes.works.items()
                    if record["attempt"] > self._attempts.get(name, 0)]
        with self._transaction("write"):
            # Only the statements with rows: a save per call (write-ahead) is on the call path.
            if written:
                self._db.executemany("INSERT OR REPLACE INTO state (component, part, value) VALUES (?, ?, ?)", written)
            if gone:
                self._db.executemany("DELETE FROM state WHERE component = ? AND part = ?", gone)
            if records:
                self._db.executemany("INSERT OR REPLACE INTO works (name, record) VALUES (?, ?)", records)
            if attempts:
                self._db.executemany(
                    "INSERT INTO attempts (name, last) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET last = "
                    "max(last, excluded.last)", attempts)
            self._db.execute("UPDATE run SET saved_at = ? WHERE id = 1", (time.time(),))
        self._attempts.update(attempts)
        return True

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[None]:
        """BEGIN ... COMMIT, or ROLLBACK on error (the connection is in autocommit mode otherwise).

        SQLite's and the OS's errors become errors naming the checkpoint.
        """
        with self._errors(doing):
            self._db.execute("BEGIN")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the failed commit ended the transaction already, or the disk refuses even this
                raise

    def end(self) -> None:
        """Mark the app ended: the next run starts fresh."""
        self._guard(lambda: self._db.execute("UPDATE run SET status = 'ended' WHERE id = 1"), "write")

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


_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
"""SQLite's result codes for a damaged file and a file that is not a database (sqlite3 names them from 3.11 on)."""


def _is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)  # extended codes keep the primary low
    return "malformed" in str(exc) or "not a database" in str(exc)

