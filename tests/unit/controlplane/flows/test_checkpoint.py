"""Tests for controlplane.flows.checkpoint: rows written per change, one transaction per save, attempts kept."""

from __future__ import annotations

import sqlite3

from lightning_ctl.controlplane.flows.checkpoint import Checkpoint, CheckpointChanges

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
