"""File helpers: the exclusive lock both daemons hold (one run per app, one agent per home)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lightning_ctl.sdk._files import FileLock, LockHeld

HOLD = "import sys, time; from lightning_ctl.sdk._files import FileLock; FileLock(sys.argv[1]); print('held', flush=True); time.sleep(60)"


class TestFileLock:
    def test_a_second_holder_is_refused_naming_the_first(self, tmp_path: Path) -> None:
        """While one process holds the lock another cannot take it, and learns the holder's pid."""
        path = tmp_path / "run.lock"
        holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(LockHeld) as refused:
                FileLock(path)
            assert refused.value.holder_pid == holder.pid
        finally:
            holder.kill()
            holder.wait()
        FileLock(path).release()  # the kernel dropped it with the process: no stale lock

    def test_release_lets_the_next_one_in(self, tmp_path: Path) -> None:
        """release() (idempotent) frees the lock at once; the file records the holder's pid."""
        lock = FileLock(tmp_path / "x.lock")
        assert (tmp_path / "x.lock").read_text().strip() == str(os.getpid())
        lock.release()
        lock.release()
        FileLock(tmp_path / "x.lock").release()
