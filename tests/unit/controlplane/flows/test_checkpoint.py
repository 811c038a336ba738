"""The checkpoint's integrity check and error mapping, on real SQLite files (no processes)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lightning_ctl.controlplane.errors import CheckpointCorruptError, CheckpointError
from lightning_ctl.controlplane.flows.checkpoint import Checkpoint, move_aside


def saved(path: Path, kilobytes: int = 64) -> Path:
    checkpoint = Checkpoint(path)
    checkpoint.begin(1, 1, resumed=False)
    checkpoint.save({"ballast": "x" * kilobytes * 1024}, {"root.w": {"exited": False}})
    checkpoint.close()
    return path


class TestIntegrity:
    def test_a_sound_checkpoint_loads(self, tmp_path: Path) -> None:
        """What was saved comes back."""
        checkpoint = Checkpoint(saved(tmp_path / "c.sqlite"))
        assert checkpoint.load().works == {"root.w": {"exited": False}}
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

    def test_an_unreadable_value_is_refused(self, tmp_path: Path) -> None:
        """A row whose JSON does not decode counts as damage too."""
        path = saved(tmp_path / "c.sqlite")
        db = sqlite3.connect(str(path))
        db.execute("UPDATE run SET works = '{not json'")
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
        """A write that SQLite refuses becomes a CheckpointError naming the file (never a raw sqlite3 error)."""
        path = saved(tmp_path / "c.sqlite")
        checkpoint = Checkpoint(path)
        checkpoint._db.execute("PRAGMA query_only = ON")  # every write now fails, as on a read-only disk
        with pytest.raises(CheckpointError, match=f"cannot write the checkpoint {path}"):
            checkpoint.save({"a": 1}, {})
        checkpoint.close()
