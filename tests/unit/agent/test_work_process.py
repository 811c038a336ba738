"""WorkProcess.on_sigterm: the stop always ends in a clean exit, whatever the work was doing when SIGTERM came."""

from __future__ import annotations

import sys

import pytest

from lightning_ctl.agent.runner import work_process
from lightning_ctl.agent.runner.work_process import WorkProcess
from lightning_ctl.sdk import LightningWork
from lightning_ctl.sdk._events import StatusChanged


class Job(LightningWork):
    def __init__(self) -> None:
        super().__init__(start_with_flow=False)

    def run(self) -> None:
        pass


class Connection:
    def __init__(self) -> None:
        self.sent: list[object] = []

    def emit(self, body: object) -> None:
        self.sent.append(body)

    def flush(self, timeout_s: float) -> None:
        pass


class Tracker:
    def sweep(self) -> None:
        pass


class MidWrite:
    """A stream the signal interrupted in the middle of a write: flushing it again is a reentrant call."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        raise RuntimeError("reentrant call inside <_io.BufferedWriter name=2>")


def test_sigterm_in_the_middle_of_a_write_to_stderr_still_exits_0(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGTERM arriving while the work prints to stderr (e.g. its own failure) reports stopped and exits 0: the
    handler's flush of the interrupted stream raises nothing into the work's code."""
    exits: list[int] = []

    def fake_exit(code: int) -> None:
        exits.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(work_process.os, "_exit", fake_exit)
    monkeypatch.setattr(sys, "stderr", MidWrite())
    connection = Connection()
    process = WorkProcess(connection, Job(), Tracker())  # type: ignore[arg-type]
    with pytest.raises(SystemExit):
        process.on_sigterm(15, None)
    assert exits == [0]
    assert [b.status["stage"] for b in connection.sent if isinstance(b, StatusChanged)] == ["stopped"]
