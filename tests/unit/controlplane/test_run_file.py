"""Tests for controlplane.run_file: how CLI commands find the app running on this machine, safely."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from dataclasses import asdict

import pytest

from lightning_ctl.controlplane.run_file import (
    LATEST,
    RUNS,
    NoRunningAppError,
    RunInfo,
    find_running_app,
    is_alive,
    live_runs,
    read_run_file,
    remove_run_file,
    write_run_file,
)


def info(pid: int = os.getpid(), address: str = "127.0.0.1:5000", started_at: float | None = None) -> RunInfo:
    return RunInfo(address, "secret", pid, "/apps/app.py", time.time() if started_at is None else started_at)


@pytest.fixture
def dead_pid() -> int:
    """A pid that no longer runs."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_run_files_are_owner_only_and_read_back(tmp_path) -> None:
    """run.json and runs/<pid>.json hold the token: mode 0600 in a 0700 folder."""
    own = write_run_file(info(), tmp_path)
    for path in (own, tmp_path / LATEST):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert read_run_file(path) == read_run_file(own)
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / RUNS).stat().st_mode) == 0o700
    assert find_running_app(tmp_path).token == "secret"


def test_no_run_file_means_no_app(tmp_path) -> None:
    """Without any run file the error says no app is running and how to reach one."""
    with pytest.raises(NoRunningAppError, match="no app is running on this machine.*--address and --token"):
        find_running_app(tmp_path)


def test_a_dead_control_plane_is_not_running(tmp_path, dead_pid: int) -> None:
    """A run file left by a killed control plane is ignored, and the error names its pid."""
    write_run_file(info(pid=dead_pid), tmp_path)
    with pytest.raises(NoRunningAppError, match=f"pid {dead_pid}, is gone"):
        find_running_app(tmp_path)


def test_a_reused_pid_is_not_the_app(tmp_path) -> None:
    """A pid now held by a process started after the run file was written is not the app."""
    assert not is_alive(info(started_at=time.time() - 10 * 365 * 86400))
    assert is_alive(info())


def test_falls_back_to_the_newest_other_running_app(tmp_path, dead_pid: int) -> None:
    """When run.json names a dead app, the newest app still running is used."""
    write_run_file(info(address="127.0.0.1:1"), tmp_path)
    write_run_file(info(pid=dead_pid, address="127.0.0.1:2"), tmp_path)  # the latest, but gone
    assert find_running_app(tmp_path).address == "127.0.0.1:1"


def test_removing_points_latest_at_another_running_app(tmp_path, dead_pid: int) -> None:
    """When the latest app ends, run.json names the other app still running; it goes when none is left."""
    write_run_file(info(address="127.0.0.1:1"), tmp_path)  # this process: alive
    write_run_file(info(pid=dead_pid, address="127.0.0.1:2"), tmp_path)
    remove_run_file(dead_pid, tmp_path)
    assert read_run_file(tmp_path / LATEST).address == "127.0.0.1:1"
    assert [run.address for run in live_runs(tmp_path)] == ["127.0.0.1:1"]
    remove_run_file(os.getpid(), tmp_path)
    assert not (tmp_path / LATEST).exists()
    assert list((tmp_path / RUNS).iterdir()) == []


def test_removing_leaves_a_newer_apps_latest_alone(tmp_path) -> None:
    """An app ending does not touch run.json when it names another (newer) app."""
    write_run_file(info(pid=1, address="127.0.0.1:1"), tmp_path)
    write_run_file(info(address="127.0.0.1:2"), tmp_path)
    remove_run_file(1, tmp_path)
    assert read_run_file(tmp_path / LATEST).address == "127.0.0.1:2"


def test_unreadable_run_file_is_ignored(tmp_path) -> None:
    """A corrupt run.json reads as absent rather than crashing the CLI."""
    (tmp_path / LATEST).write_text("{not json")
    assert read_run_file(tmp_path / LATEST) is None
    with pytest.raises(NoRunningAppError):
        find_running_app(tmp_path)


def test_starting_an_app_removes_run_files_of_killed_ones(tmp_path, dead_pid: int) -> None:
    """Control planes killed with SIGKILL leave their run file; the next app to start removes it."""
    (tmp_path / RUNS).mkdir(parents=True)
    (tmp_path / RUNS / f"{dead_pid}.json").write_text(json.dumps(asdict(info(pid=dead_pid))))
    write_run_file(info(), tmp_path)
    assert sorted(p.name for p in (tmp_path / RUNS).iterdir()) == [f"{os.getpid()}.json"]
