"""Tests for agent.work_logs: each work's output in rotated files with bounded disk use."""

from __future__ import annotations

import re
import stat

from lightning_ctl.agent.work_logs import WorkLogFile
from lightning_ctl.sdk._work_log_format import log_path, logs_dir


def files_of(path) -> list[str]:  # noqa: ANN001
    return sorted(p.name for p in path.parent.iterdir())


def test_lines_are_written_with_time_and_stream(tmp_path) -> None:
    """Each line becomes `<UTC time> <stream> <text>`, in an owner-only file."""
    path = log_path(logs_dir(tmp_path), "root.w", 1)
    log_file = WorkLogFile(path)
    log_file.write("stdout", ["hello", "wörld \ufffd"])
    log_file.write("stderr", ["oops"])
    log_file.close()
    assert path == tmp_path / "logs" / "root.w" / "1.log"
    lines = path.read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["stdout hello", "stdout wörld \ufffd", "stderr oops"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", lines[0].split(" ", 1)[0])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_files_rotate_at_max_bytes_keeping_a_bounded_number(tmp_path) -> None:
    """A flood fills 1.log, then moves it to 1.log.1 ... up to the backups count; disk use stays bounded."""
    path = tmp_path / "root.w" / "1.log"
    log_file = WorkLogFile(path, max_bytes=1000, backups=2)
    for i in range(100):
        log_file.write("stdout", [f"line {i:03d} " + "x" * 50])
    log_file.close()
    assert files_of(path) == ["1.log", "1.log.1", "1.log.2"]
    sizes = [p.stat().st_size for p in path.parent.iterdir()]
    assert all(size <= 1000 for size in sizes)
    assert "line 099" in path.read_text()  # the newest lines are in the current file
    assert "line 000" not in "".join(p.read_text() for p in path.parent.iterdir())  # the oldest were dropped


def test_a_file_from_an_earlier_run_is_rotated_away(tmp_path) -> None:
    """A new process of the same (work, attempt) starts a fresh file; the old one becomes .1."""
    path = tmp_path / "root.w" / "1.log"
    first = WorkLogFile(path)
    first.write("stdout", ["first run"])
    first.close()
    second = WorkLogFile(path)
    second.write("stdout", ["second run"])
    second.write("stdout", ["more"])
    second.close()
    assert "second run" in path.read_text() and "first run" not in path.read_text()
    assert "first run" in (path.parent / "1.log.1").read_text()


def test_a_failing_disk_turns_the_file_off_without_raising(tmp_path) -> None:
    """When the folder cannot be created, writes are dropped quietly (the output still reaches the control plane)."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    log_file = WorkLogFile(blocker / "root.w" / "1.log")
    log_file.write("stdout", ["lost"])
    log_file.write("stdout", ["also lost"])
    assert blocker.read_text() == "a file where a folder should be"


def test_work_names_cannot_escape_the_folder(tmp_path) -> None:
    """A work name with a path separator stays inside the logs folder."""
    assert log_path(tmp_path, "root.a/../../x", 1).parent == tmp_path / "root.a_.._.._x"
