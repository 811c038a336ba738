"""End-to-end tests: real ``lightning-ctl run`` processes on loopback, judged by their output, exit status and
processes.

Shared pieces: ``APPS`` (the small apps the tests run), the ``launch`` fixture (starts apps and kills every process
they started at teardown), and helpers to read what apps print.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import psutil
import pytest

from tests.helpers.processes import BIN_DIR, AppProcess

APPS = Path(__file__).resolve().parent / "apps"
PYTHON = str(BIN_DIR / "python")
TAG_VAR = "LIGHTNING_CTL_E2E_TAG"
"""Set in the environment of every app a test starts, so that teardown finds its processes even once orphaned."""


def tagged(tag: str) -> set[int]:
    """The processes whose environment carries ``TAG_VAR=tag``."""
    pids = set()
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get(TAG_VAR) == tag:
                pids.add(proc.pid)
        except (psutil.Error, OSError):
            continue
    return pids


@pytest.fixture
def launch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., AppProcess]]:
    """Start ``lightning-ctl run apps/<name> *args``; at teardown SIGKILL whatever those apps left running, and
    fail if any of them printed an internal error (``tests.helpers.console``).

    Each test gets its own HOME, so what lightning-ctl keeps there (tokens, the state of unfinished runs to resume)
    neither leaks between tests nor touches the user's.
    """
    tag = uuid.uuid4().hex
    home = tmp_path_factory.mktemp("home")
    started: list[AppProcess] = []

    def _launch(name: str, *args: str, env: dict[str, str] | None = None) -> AppProcess:
        process = AppProcess(APPS / name, *args, env={"HOME": str(home), **(env or {}), TAG_VAR: tag})
        started.append(process)
        return process

    try:
        yield _launch
    finally:
        for process in started:
            process.kill_all()
        kill_tagged(tag)
    for process in started:  # every run is checked, whatever its test asserted
        process.check_output()


def kill_tagged(tag: str) -> None:
    """SIGKILL every process carrying ``TAG_VAR=tag`` (teardown: even those orphaned by their app)."""
    for pid in tagged(tag):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def lines_of(stdout: str, work_name: str) -> list[str]:
    """What the work called ``work_name`` printed (its prefix removed), in order."""
    prefix = f"{work_name} | "
    return [line[len(prefix):] for line in stdout.splitlines() if line.startswith(prefix)]


def reported(stdout: str, tag: str) -> Any:
    """The JSON value of the last line ``<tag> <json>`` the flow printed (see apps/e2e_common.report)."""
    found = [line[len(tag) + 1:] for line in stdout.splitlines() if line.startswith(tag + " ")]
    assert found, f"the app never reported {tag!r}; stdout:\n{stdout}"
    return json.loads(found[-1])


def reported_all(stdout: str, tag: str) -> list[Any]:
    """The JSON values of every line ``<tag> <json>``, in order."""
    return [json.loads(line[len(tag) + 1:]) for line in stdout.splitlines() if line.startswith(tag + " ")]
