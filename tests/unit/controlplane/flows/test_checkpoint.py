"""Tests for controlplane.flows.checkpoint: rows written per change, one transaction per save, attempts kept;
the integrity check and error mapping, on real SQLite files (no processes)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from lightning_ctl.controlplane.errors import CheckpointCorruptError, CheckpointError
from lightning_ctl.controlplane.flows.checkpoint import Checkpoint, CheckpointChanges, move_aside

ROW = ("[]", "vars.count")


def record(attempt: int = 1, **fields) -> dict:
    return {"attempt": attempt, "exited": False, **fields}


def test_a_save_writes_only_what_it_is_given_and_load_gives_it_back(tmp_path):
    """Two saves touching different rows leave both; load rebuilds the state and the works record."""
    checkpoint = Checkpoint(tmp_path / "c.sqlite")
    checkpoint.begin(pid=1, port=2, resumed=False)
    assert checkpoint.save(CheckpointChanges({ROW: "1", ("[]", "calls"): "{}"}, {"root.w": record()}))
    assert checkpoint.save(CheckpointChanges({ROW: "2"}))
    saved = checkpoint.load()
    assert saved is not None and not saved.ended
    assert saved.state == {"vars": {"count": 2}, "calls": {}}
    assert saved.works == {"root.w": record()}


def test_nothing_changed_writes_nothing(tmp_path):
    """An empty change is no transaction at all (an idle app does not touch its checkpoint)."""
    checkpoint = Checkpoint(tmp_path / "c.sqlite")
    checkpoint.begin(pid=1, port=2, resumed=False)
    assert checkpoint.save(CheckpointChanges()) is False


def test_a_gone_row_is_deleted(tmp_path):
    """A row handed over as None (its component left the tree) is not restored."""
    checkpoint = Checkpoint(tmp_path / "c.sqlite")
    checkpoint.begin(pid=1, port=2, resumed=False)
    checkpoint.save(CheckpointChanges({ROW: "1", ("[]", "calls"): "{}"}))
    checkpoint.save(CheckpointChanges({ROW: None}))
    assert checkpoint.load().state == {"calls": {}}


def test_a_fresh_start_forgets_the_state_but_not_the_attempt_numbers(tmp_path):
    """--fresh drops state and works; the highest attempt of each work stays, so none is ever used twice."""
    path = tmp_path / "c.sqlite"
    checkpoint = Checkpoint(path)
    checkpoint.begin(pid=1, port=2, resumed=False)
    checkpoint.save(CheckpointChanges({ROW: "1"}, {"root.w": record(3)}))
    checkpoint.save(CheckpointChanges(works={"root.w": record(2)}))  # never lowers the highest one
    checkpoint.close()
    again = Checkpoint(path)
    again.begin(pid=3, port=4, resumed=False)
    saved = again.load()
    assert saved.state is None and saved.works is None
    assert again.attempts() == {"root.w": 3}


def test_a_resumed_start_keeps_everything(tmp_path):
    """Resuming marks the run running in the new process and keeps rows and records."""
    path = tmp_path / "c.sqlite"
    checkpoint = Checkpoint(path)
    checkpoint.begin(pid=1, port=2, resumed=False)
    checkpoint.save(CheckpointChanges({ROW: "1"}, {"root.w": record()}))
    checkpoint.close()
    again = Checkpoint(path)
    again.begin(pid=3, port=2, resumed=True)
    saved = again.load()
    assert (saved.pid, saved.state, saved.works) == (3, {"vars": {"count": 1}}, {"root.w": record()})


def test_a_checkpoint_of_the_older_layout_is_not_resumed(tmp_path):
    """A checkpoint with the whole state in one column (format 1) is set aside: the app starts over."""
    path = tmp_path / "c.sqlite"
    db = sqlite3.connect(str(path))
    db.execute("CREATE TABLE run (id INTEGER PRIMARY KEY, status TEXT, pid INTEGER, port INTEGER, "
               "started_at REAL, saved_at REAL, state TEXT, works TEXT)")
    db.execute("INSERT INTO run VALUES (1, 'running', 1, 2, 0, 0, '{}', '{}')")
    db.commit()
    db.close()
    checkpoint = Checkpoint(path)
    assert checkpoint.load() is None
    checkpoint.begin(pid=1, port=2, resumed=False)
    assert checkpoint.save(CheckpointChanges({ROW: "1"}))


def saved(path: Path, kilobytes: int = 64) -> Path:
    checkpoint = Checkpoint(path)
    checkpoint.begin(1, 1, resumed=False)
    checkpoint.save(CheckpointChanges({("[]", "vars.ballast"): json.dumps("x" * kilobytes * 1024)},
                                      {"root.w": record()}))
    checkpoint.close()
    return path


class TestIntegrity:
    def test_a_sound_checkpoint_loads(self, tmp_path: Path) -> None:
        """What was saved comes back."""
        checkpoint = Checkpoint(saved(tmp_path / "c.sqlite"))
        assert checkpoint.load().works == {"root.w": record()}
        checkpoint.close()

    @pytest.mark.parametrize("damage", ["header", "truncated"])
    def test_a_damaged_file_is_refused_naming_it(self, tmp_path: Path, damage: str) -> None:
        """A garbled header or a truncated file: CheckpointCorruptError with the path."""
        path = saved(tmp_path / "c.sqlite")
        with open(path, "r+b") as file:
            if damage == "header":
                file.write(b"garbage!" * 8)
            else:
                file.truncate(path.stat().st_size // 4)
        with pytest.raises(CheckpointCorruptError, match=str(path)):
            Checkpoint(path)

    def test_a_write_ahead_log_gone_after_a_crash_is_refused(self, tmp_path: Path) -> None:
        """A WAL-mode file whose index remains but whose log is gone lost its last commits: refused."""
        path = saved(tmp_path / "c.sqlite")
        Path(f"{path}-shm").write_bytes(b"\0" * 32768)  # what a crash leaves beside it, the log then deleted
        with pytest.raises(CheckpointCorruptError, match="write-ahead log"):
            Checkpoint(path)

    @pytest.mark.parametrize("table", ["works", "state"])
    def test_an_unreadable_value_is_refused(self, tmp_path: Path, table: str) -> None:
        """A row whose JSON does not decode counts as damage too (a work's record or a state row)."""
        path = saved(tmp_path / "c.sqlite")
        db = sqlite3.connect(str(path))
        db.execute("UPDATE works SET record = '{not json'" if table == "works" else "UPDATE state SET value = '{not'")
        db.commit()
        db.close()
        with pytest.raises(CheckpointCorruptError, match="unreadable"):
            Checkpoint(path)

    def test_move_aside_keeps_the_files_and_frees_the_name(self, tmp_path: Path) -> None:
        """The damaged file and its side files are renamed; a new checkpoint opens at the old name."""
        path = saved(tmp_path / "c.sqlite")
        Path(f"{path}-shm").write_bytes(b"")
        kept = move_aside(path)
        assert kept.exists() and Path(f"{kept}-shm").exists() and not path.exists()
        Checkpoint(path).close()


class TestWriteErrors:
    def test_a_failed_write_names_the_file_and_the_cause(self, tmp_path: Path) -> None:
        """A write that SQLite refuses becomes a CheckpointError naming the file (never a raw sqlite3 error), and
        the transaction is rolled back: the next write is not refused for an open one."""
        path = saved(tmp_path / "c.sqlite")
        checkpoint = Checkpoint(path)
        checkpoint._db.execute("PRAGMA query_only = ON")  # every write now fails, as on a read-only disk
        with pytest.raises(CheckpointError, match=f"cannot write the checkpoint {path}"):
            checkpoint.save(CheckpointChanges({ROW: "1"}))
        checkpoint._db.execute("PRAGMA query_only = OFF")
        assert checkpoint.save(CheckpointChanges({ROW: "2"}))
        checkpoint.close()
