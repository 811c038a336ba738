"""End-to-end: a checkpoint that cannot be written, or that is damaged, ends or refuses the run with a clear
message naming the file; ``--fresh`` moves a damaged one aside and starts over."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import psutil
import pytest

from tests.helpers import wait_until
from tests.helpers.processes import alive

TIMEOUT_S = 30.0


def describe(run) -> str:  # noqa: ANN001
    return f"exit {run.exit_code}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"


def checkpoint_of(home: Path) -> Path:
    """The one app checkpoint under ``home``."""
    return wait_until(lambda: next(home.glob(".lightning-ctl/apps/*/checkpoint.sqlite"), None), TIMEOUT_S,
                      what="the app's checkpoint")


@pytest.mark.e2e
def test_a_checkpoint_that_cannot_be_written_ends_the_app_naming_the_file(launch, tmp_path: Path) -> None:
    """Writes to the checkpoint fail (the control plane's file size limit: what a full disk does): the works are
    stopped and the run exits 1 naming the cause and the file, instead of hanging on."""
    home = tmp_path / "home"
    process = launch("lifecycle.py", "--stop-grace", "2", env={"HOME": str(home)})
    pids = {int(process.wait_for_line(f"root.w{i} | pid=").rsplit("=", 1)[1]) for i in range(2)}
    path = checkpoint_of(home)
    psutil.Process(process.proc.pid).rlimit(psutil.RLIMIT_FSIZE, (1024, 1024))  # EFBIG past 1 KiB
    run = process.wait(TIMEOUT_S)
    assert run.exit_code == 1, describe(run)
    assert f"cannot write the checkpoint {path}" in run.stderr, describe(run)
    wait_until(lambda: not alive(pids), 10, what="the works to be stopped")


def crashed_run(launch, home: Path) -> Path:  # noqa: ANN001
    """Run apps/lifecycle.py (no works: only the checkpoint matters here) and SIGKILL it once it has committed its
    state; the checkpoint it left (its last commits in the write-ahead log)."""
    process = launch("lifecycle.py", env={"HOME": str(home), "LC_STATE_KB": "64", "LC_WORKS": "0"})
    path = checkpoint_of(home)
    wal = Path(f"{path}-wal")
    wait_until(lambda: wal.exists() and wal.stat().st_size > 64 * 1024, TIMEOUT_S,
               what="the app's state (64 KiB) in the write-ahead log")
    process.kill_all()
    process.proc.wait(10)
    return path


def _folded(path: Path) -> Path:
    """``path`` with its write-ahead log folded in, as a clean close leaves it."""
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


def _overwrite_header(path: Path) -> None:
    with open(_folded(path), "r+b") as file:
        file.write(b"\x00garbage" * 12)


def _truncate(path: Path) -> None:
    with open(_folded(path), "r+b") as file:
        file.truncate(path.stat().st_size // 4)


DAMAGE = {"corrupt": _overwrite_header, "truncated": _truncate, "missing_wal": lambda p: Path(f"{p}-wal").unlink()}


@pytest.mark.e2e
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_checkpoint_is_refused_at_start_and_fresh_moves_it_aside(launch, tmp_path: Path,
                                                                           damage: str) -> None:
    """A corrupt, truncated or WAL-less checkpoint: the next run exits 1 naming the file and --fresh; a run with
    --fresh keeps the damaged file aside and runs the app from the start."""
    home = tmp_path / "home"
    path = crashed_run(launch, home)
    DAMAGE[damage](path)
    refused = launch("lifecycle.py", "--stop-grace", "2", env={"HOME": str(home)}).wait(TIMEOUT_S)
    assert refused.exit_code == 1, describe(refused)
    assert str(path) in refused.stderr and "--fresh" in refused.stderr, describe(refused)
    go = tmp_path / "go"
    fresh = launch("lifecycle.py", "--fresh", "--stop-grace", "2", env={"HOME": str(home), "LC_GO": str(go)})
    fresh.wait_for_line("root.w0 | pid=")
    go.touch()
    run = fresh.wait(TIMEOUT_S)
    assert run.exit_code == 0, describe(run)
    assert list(path.parent.glob("checkpoint.sqlite.damaged-*")), "the damaged checkpoint was not kept aside"


@pytest.mark.e2e
def test_sigterm_ends_a_run_stopping_after_its_checkpoint_failed(launch, tmp_path: Path) -> None:
    """A run ending on a checkpoint failure, its works ignoring SIGTERM with a long grace: a SIGTERM then kills
    them and ends the run at once (a stop request during an ending is never ignored)."""
    home = tmp_path / "home"
    process = launch("lifecycle.py", "--stop-grace", "120", env={"HOME": str(home), "LC_IGNORE_SIGTERM": "1"})
    pids = {int(process.wait_for_line(f"root.w{i} | pid=").rsplit("=", 1)[1]) for i in range(2)}
    checkpoint_of(home)
    psutil.Process(process.proc.pid).rlimit(psutil.RLIMIT_FSIZE, (1024, 1024))
    wait_until(lambda: len([line for line in process.stdout_lines if "ignoring SIGTERM" in line]) >= 2, TIMEOUT_S,
               what="the works to be told to stop")
    process.signal(signal.SIGTERM)
    run = process.wait(TIMEOUT_S)
    assert run.exit_code in (1, 143), describe(run)
    assert "cannot write the checkpoint" in run.stderr, describe(run)
    wait_until(lambda: not alive(pids), 10, what="the works to be killed")
