"""End-to-end: what ``lightning-ctl run`` prints at its default log level: a banner saying where the app is (its
gRPC address, how an agent joins, how to watch it, the view's login link), the app's own lines, warnings and
errors; not its lifecycle log lines (those appear from ``--log-level info``)."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import APPS, TAG_VAR, kill_tagged, lines_of
from tests.helpers import wait_until
from tests.helpers.processes import LIGHTNING_CTL, AppProcess, AppRun

TIMEOUT_S = 60.0
LIFECYCLE_EVENTS = ("control_plane_listening", "app_store", "work_placed", "app_stopping", "app_ended")
"""Info events every run logs: never on the console at the default level."""


@pytest.fixture
def start(tmp_path: Path) -> Iterator:
    """Start ``lightning-ctl run apps/banner_app.py`` (default log level unless told); kill what it left at the end."""
    tag = uuid.uuid4().hex
    started: list[AppProcess] = []

    def _start(*args: str, log_level: str | None = None, env: dict[str, str] | None = None) -> AppProcess:
        process = AppProcess(APPS / "banner_app.py", "--stop-grace", "2", *args, log_level=log_level,
                             env={"HOME": str(tmp_path), TAG_VAR: tag, **(env or {})})
        started.append(process)
        return process

    yield _start
    for process in started:
        process.kill_all()
    kill_tagged(tag)


def stop_when_served(process: AppProcess, home: Path) -> AppRun:
    """Wait for the view's link and the flow's line, then end the app with ``lightning-ctl stop``."""
    wait_until(lambda: any("Your app has started" in line for line in process.stderr_lines), TIMEOUT_S,
               what="the view's login link")
    process.wait_for_line("FLOW LINE", TIMEOUT_S)
    stopped = subprocess.run([LIGHTNING_CTL, "stop"], env={**os.environ, "HOME": str(home)}, capture_output=True,
                             text=True, timeout=60, check=False)
    assert stopped.returncode == 0, stopped.stderr
    return process.wait(TIMEOUT_S)


@pytest.mark.e2e
def test_default_level_shows_the_banner_and_the_apps_lines_not_the_lifecycle(start, tmp_path: Path) -> None:
    """With no --log-level: the former framework's two lines around a short banner (address, agent command
    pointing at a join token, watch commands), the flow's and the work's lines, the warning about spot capacity;
    no info log line."""
    run = stop_when_served(start(), tmp_path)
    assert run.exit_code == 0, run.stderr
    err = run.stderr.splitlines()
    assert err[0] == "Your Lightning App is starting. This won't take long."
    where = re.search(r"control plane on 127\.0\.0\.1:(\d+) \(gRPC", run.stderr)
    assert where, run.stderr
    agent_line = next(line for line in err if "lightning-agent --control-plane" in line)
    assert f"--control-plane 127.0.0.1:{where.group(1)}" in agent_line
    assert "$(lightning-ctl agents join-token)" in agent_line and "lctl-join" not in run.stderr  # no secret
    assert any("lightning-ctl status" in line and "lightning-ctl logs -f" in line for line in err)
    view = next(line for line in err if line.startswith("Your app has started. View it in your browser: "))
    assert re.search(r"http://127\.0\.0\.1:\d+/view\?token=\S+$", view), view
    assert len([line for line in err if not line.startswith(("20", "Your app has started"))]) <= 6, run.stderr
    assert lines_of(run.stdout, "root.talker") == ["WORK LINE from the work"]
    assert "FLOW LINE the work is done" in run.stdout.splitlines()
    assert any("[warning" in line and "interruptible_has_no_effect" in line for line in err), run.stderr
    assert not any(event in run.stderr for event in LIFECYCLE_EVENTS), run.stderr
    assert "[info" not in run.stderr


@pytest.mark.e2e
def test_info_level_adds_the_lifecycle(start, tmp_path: Path) -> None:
    """--log-level info adds the lifecycle log lines to the same banner."""
    run = stop_when_served(start(log_level="info"), tmp_path)
    assert run.exit_code == 0, run.stderr
    assert all(event in run.stderr for event in LIFECYCLE_EVENTS), run.stderr
    assert "control plane on 127.0.0.1:" in run.stderr


@pytest.mark.e2e
def test_a_failure_reaches_the_console_at_the_default_level(start) -> None:
    """A work that raises fails the app: its traceback and the failure are on the console (exit 1)."""
    run = start(env={"FAIL": "1"}).wait(TIMEOUT_S)
    assert run.exit_code == 1, run.stderr
    assert "RuntimeError: the work gave up" in run.stdout + run.stderr
    assert "work root.talker failed" in run.stderr
