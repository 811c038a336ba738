"""End-to-end: stopping works and ending apps (spec §3.3, §3.7): signals, grace periods, and no process left."""

from __future__ import annotations

import signal
import time

import psutil
import pytest

from tests.e2e import lines_of, reported
from tests.helpers import wait_until
from tests.helpers.processes import alive

TIMEOUT_S = 20.0


def describe(run) -> str:  # noqa: ANN001
    return f"exit {run.exit_code}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"


@pytest.mark.e2e
def test_work_stop_sigterms_the_process_group_and_runs_on_exit(launch) -> None:
    """work.stop(): SIGTERM reaches the work's process group, on_exit runs, the flow sees sigterm_signal_handler."""
    process = launch("work_stop.py", "--stop-grace", "2")
    grandchild = int(process.wait_for_line("grandchild pid=").rsplit("=", 1)[1])
    run = process.wait(TIMEOUT_S)
    assert run.exit_code == 0, describe(run)
    lines = lines_of(run.stdout, "root.w")
    assert "grandchild got SIGTERM" in lines
    assert "on_exit ran" in lines
    stopped = reported(run.stdout, "STOPPED")
    assert stopped["stage"] == "stopped"
    assert stopped["reason"] == "sigterm_signal_handler"
    assert_all_gone({grandchild})


@pytest.mark.e2e
def test_work_ignoring_sigterm_is_killed_after_the_grace_period(launch) -> None:
    """A work ignoring SIGTERM is SIGKILLed after --stop-grace 1: the flow sees it stopped and its process is gone."""
    process = launch("ignores_sigterm.py", "--stop-grace", "1")
    pid = int(process.wait_for_line("work pid=").rsplit("=", 1)[1])
    run = process.wait(TIMEOUT_S)
    assert run.exit_code == 0, describe(run)
    stopped = reported(run.stdout, "STOPPED")
    assert stopped["stage"] == "stopped"
    assert stopped["reason"] != "pending"
    assert 0.9 <= stopped["after_s"] < 4.0, f"killed {stopped['after_s']:.2f}s after the stop (grace 1 s)"
    assert_all_gone({pid})


@pytest.mark.e2e
def test_app_end_stops_every_live_work_with_sigterm(launch) -> None:
    """At the app's end every live work (idle or busy) gets SIGTERM, runs on_exit, and exits within the grace."""
    process = launch("teardown_on_exit.py", "--stop-grace", "5")
    process.wait_for_line("all works ran; stopping the app")
    stopping = time.monotonic()
    run = process.wait(TIMEOUT_S)
    took = time.monotonic() - stopping
    assert run.exit_code == 0, describe(run)
    for name in ("idle_1", "idle_2", "idle_3", "idle_4", "busy"):
        assert lines_of(run.stdout, f"root.{name}") == ["on_exit ran"], describe(run)
    assert took < 3.0, f"the app took {took:.1f}s to end: a work did not exit on SIGTERM (grace 5 s)\n{describe(run)}"


def assert_all_gone(pids: set[int], timeout_s: float = 5.0) -> None:
    """Poll until none of ``pids`` runs; fail naming the survivors."""
    try:
        wait_until(lambda: not alive(pids), timeout_s, what="every process of the app to be gone")
    except AssertionError:
        survivors = {}
        for pid in alive(pids):
            try:
                survivors[pid] = " ".join(psutil.Process(pid).cmdline())
            except psutil.Error:
                survivors[pid] = "?"
        raise AssertionError(f"processes of the app survived its end: {survivors}") from None


ENDINGS = {
    # ending: (ENDING for the app, or the signal the test sends to lightning-ctl; exit status; text of the end)
    "flow_stop": ("stop", 0, "stopped by the flow"),
    "flow_fail": ("fail", 1, "failed by the flow"),
    "flow_exception": ("raise", 1, "RuntimeError: the flow raised"),
    "work_failure": ("work", 1, "RuntimeError: work c fails the app"),
    "sigint": (signal.SIGINT, 130, ""),
    "sigterm": (signal.SIGTERM, 143, ""),
}


@pytest.mark.e2e
@pytest.mark.parametrize("ending", list(ENDINGS))
def test_no_process_of_the_app_survives_its_end(launch, tmp_path, ending: str) -> None:
    """However the app ends, none of its processes (works' grandchildren included) survives; exit status matches."""
    how, expected_exit, end_text = ENDINGS[ending]
    go_file = tmp_path / "go"
    mode = how if isinstance(how, str) else "signal"
    process = launch("process_tree.py", "--stop-grace", "2", "--env", f"ENDING={mode}", "--env", f"GO_FILE={go_file}")
    work_pids = {int(process.wait_for_line(f"root.{name} | pid=").rsplit("=", 1)[1]) for name in ("a", "b", "c")}
    grandchild = int(process.wait_for_line("root.a | grandchild pid=").rsplit("=", 1)[1])
    essential = work_pids | {grandchild, process.proc.pid}
    assert alive(essential) == essential, "the control plane, works and grandchild should run before the end"
    pids = process.record_pids() | essential
    assert len(pids) >= 6, f"expected control plane, agent, 3 works and a grandchild, got {pids}"

    if isinstance(how, str):
        go_file.touch()
    else:
        process.signal(how)
    run = process.wait(TIMEOUT_S)
    assert run.exit_code == expected_exit, describe(run)
    assert end_text in run.stdout + run.stderr, describe(run)
    pids |= run.pids
    assert_all_gone(pids)
