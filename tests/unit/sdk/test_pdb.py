"""Unit tests for sdk._pdb: the debugger a work without a terminal serves on a Unix socket."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from lightning_ctl.sdk import _pdb
from tests.helpers import wait_until


@pytest.fixture
def temporary(monkeypatch):
    """A temporary directory of the test's own, short enough for sockets (tempfile caches the setting)."""
    folder = Path(tempfile.mkdtemp(prefix="lctl-", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_socket_paths_fit_a_unix_socket_even_from_a_long_temporary_directory(monkeypatch, tmp_path) -> None:
    """A temporary directory too long for a socket's path moves the socket to /tmp; a long work name is cut."""
    long_dir = tmp_path / ("x" * 90)
    long_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(long_dir))
    folder, path = _pdb._socket_path("root." + "w" * 200)
    try:
        assert folder.startswith("/tmp/lightning-pdb-") and len(path.encode()) <= 100
        assert oct(os.stat(folder).st_mode & 0o777) == "0o700"
        assert path.endswith(f".{os.getpid()}.sock") and os.path.basename(path).startswith("root.www")
    finally:
        shutil.rmtree(folder)


def test_a_session_over_the_socket_sees_locals_and_lets_the_code_go_on(temporary, monkeypatch, capsys) -> None:
    """set_trace() without a terminal prints how to attach, serves pdb on the socket (owner-only), and once the
    debugger leaves (end of file) the code goes on and the socket's folder is gone."""
    monkeypatch.setattr(_pdb, "_has_terminal", lambda: False)
    transcript: list[bytes] = []

    def debugger() -> None:
        found = wait_until(lambda: [os.path.join(d, f) for d in temporary.glob("lightning-pdb-*")
                                    for f in os.listdir(d)], 10, what="the debugger's socket")
        path = found[0]
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
            client.sendall(b"p secret * 2\np secret + 1\n")
            client.shutdown(socket.SHUT_WR)  # Ctrl-D: the code goes on
            while chunk := client.recv(4096):
                transcript.append(chunk)

    thread = threading.Thread(target=debugger, daemon=True)
    thread.start()
    secret = 21
    _pdb.set_trace()
    after = secret
    thread.join(10)
    output = b"".join(transcript).decode()
    assert "(Pdb) 42\n(Pdb) 22\n" in output and after == 21
    assert "is paused in a debugger at" in capsys.readouterr().err
    assert list(temporary.glob("lightning-pdb-*")) == []


def test_folders_of_paused_processes_that_are_gone_are_cleared(temporary) -> None:
    """A work stopped while paused leaves its folder (it exits without cleaning up): the next listing removes it
    and lists only the sockets of live processes."""
    dead = _dead_pid()
    stale = temporary / "lightning-pdb-old"
    stale.mkdir()
    (stale / f"root.w.{dead}.sock").touch()
    live = temporary / "lightning-pdb-new"
    live.mkdir()
    (live / f"root.v.{os.getpid()}.sock").touch()
    assert _pdb.waiting_debuggers() == [str(live / f"root.v.{os.getpid()}.sock")]
    assert not stale.exists()


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
