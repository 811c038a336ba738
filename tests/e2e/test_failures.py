"""End-to-end: how failures surface (spec §3.3, §3.6): exit status, what stderr and the flow see, bad input."""

from __future__ import annotations

import re
import time

import pytest

from tests.e2e import APPS, reported

TIMEOUT_S = 20.0

INTERNAL_FRAMES = re.compile(r'File "[^"]*/(controlplane|agent|sdk|protos|click|grpc)/')
"""A traceback line pointing into lightning-ctl's own code (or the libraries it runs on)."""


def ended(launch, app: str, *args: str):  # noqa: ANN001, ANN201 - fixture callable, AppRun
    """Run ``app`` to its end (works get 2 s to stop at teardown)."""
    return launch(app, "--stop-grace", "2", *args).wait(TIMEOUT_S)


def line_of(app: str, marker: str) -> int:
    """The 1-based line of ``apps/<app>`` that contains ``marker``."""
    lines = (APPS / app).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if marker in line)


def describe(run) -> str:  # noqa: ANN001
    return f"exit {run.exit_code}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"


# -- works raising ------------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_work_exception_with_raise_exception_fails_the_app_promptly_with_the_user_traceback(launch) -> None:
    """raise_exception=True: exit 1 well under 5 s after the work started; stderr has the user's frames only."""
    process = launch("work_raises.py", "--stop-grace", "2")
    process.wait_for_line("work started at", timeout_s=TIMEOUT_S)
    started = time.monotonic()
    run = process.wait(TIMEOUT_S)
    took = time.monotonic() - started
    assert run.exit_code == 1, describe(run)
    assert took < 3.0, f"the app took {took:.1f}s to fail after the work started"
    app_file = str(APPS / "work_raises.py")
    assert f'File "{app_file}", line {line_of("work_raises.py", "compute_answer(42)")}, in run' in run.stderr
    assert f'File "{app_file}", line {line_of("work_raises.py", "raise ValueError")}, in compute_answer' in run.stderr
    assert "ValueError: boom from user code (42)" in run.stderr
    assert "root.w" in run.stderr
    assert "agent/runner" not in run.stderr and "sdk/_" not in run.stderr, run.stderr


@pytest.mark.e2e
def test_work_exception_without_raise_exception_fails_the_call_and_the_app_goes_on(launch) -> None:
    """raise_exception=False: status failed, reason user_exception, traceback in message; the flow stops (exit 0)."""
    run = ended(launch, "work_raises.py", "--env", "RAISE_EXCEPTION=0")
    assert run.exit_code == 0, describe(run)
    failed = reported(run.stdout, "FAILED")
    assert failed["stage"] == "failed"
    assert failed["reason"] == "user_exception"
    assert "Traceback (most recent call last)" in failed["message"]
    assert "in compute_answer" in failed["message"]
    assert "ValueError: boom from user code (42)" in failed["message"]
    assert "flow goes on after the failure" in run.stdout


@pytest.mark.e2e
def test_run_returning_a_value_fails_the_call(launch) -> None:
    """A work's run() returning 42 ends the call failed, with reason invalid_return_value."""
    run = ended(launch, "invalid_return.py")
    assert run.exit_code == 0, describe(run)
    status = reported(run.stdout, "STATUS")
    assert status["stage"] == "failed"
    assert status["reason"] == "invalid_return_value"
    assert "returned" in status["message"]


# -- flows ending the app -----------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_flow_fail_exits_1_with_its_message(launch) -> None:
    """flow.fail("msg") ends the app with exit status 1 and prints msg."""
    run = ended(launch, "flow_endings.py", "--env", "ENDING=fail")
    assert run.exit_code == 1, describe(run)
    assert "failing: something is wrong" in run.stdout + run.stderr


@pytest.mark.e2e
def test_flow_stop_exits_0_with_its_message(launch) -> None:
    """flow.stop("msg") ends the app with exit status 0 and prints msg."""
    run = ended(launch, "flow_endings.py", "--env", "ENDING=stop")
    assert run.exit_code == 0, describe(run)
    assert "stopping: all good" in run.stdout


@pytest.mark.e2e
def test_exception_in_flow_exits_1_with_a_traceback_naming_the_app_file_and_line(launch) -> None:
    """An exception raised in a flow's run exits 1; stderr's traceback names the app file and the raising line."""
    run = ended(launch, "flow_endings.py", "--env", "ENDING=raise")
    assert run.exit_code == 1, describe(run)
    line = line_of("flow_endings.py", "marker: flow raise line")
    assert f'File "{APPS / "flow_endings.py"}", line {line}, in run' in run.stderr, run.stderr
    assert "RuntimeError: the flow blew up" in run.stderr


# -- work processes dying by themselves ---------------------------------------------------------------------------


@pytest.mark.e2e
def test_work_process_exiting_by_itself_fails_the_work(launch) -> None:
    """os._exit(3) in a work (raise_exception=False): the work is failed, its message names "exited with code 3"."""
    run = ended(launch, "work_dies.py", "--env", "RAISE_EXCEPTION=0", "--env", "DEATH=exit3")
    assert run.exit_code == 0, describe(run)
    failed = reported(run.stdout, "FAILED")
    assert failed["stage"] == "failed"
    assert failed["reason"]
    assert "exited with code 3" in failed["message"]


@pytest.mark.e2e
def test_work_process_exiting_by_itself_fails_the_app_with_raise_exception(launch) -> None:
    """os._exit(3) in a work with raise_exception=True: the app exits 1 and stderr names the exit code."""
    run = ended(launch, "work_dies.py", "--env", "RAISE_EXCEPTION=1", "--env", "DEATH=exit3")
    assert run.exit_code == 1, describe(run)
    assert "exited with code 3" in run.stderr
    assert "root.w" in run.stderr


@pytest.mark.e2e
def test_work_process_killed_by_sigkill_fails_the_work_naming_the_signal(launch) -> None:
    """A work SIGKILLing itself (raise_exception=False): the work is failed, its message names signal 9/SIGKILL."""
    run = ended(launch, "work_dies.py", "--env", "RAISE_EXCEPTION=0", "--env", "DEATH=sigkill")
    assert run.exit_code == 0, describe(run)
    failed = reported(run.stdout, "FAILED")
    assert failed["stage"] == "failed"
    assert "signal 9" in failed["message"] and "SIGKILL" in failed["message"]


@pytest.mark.e2e
def test_work_process_killed_by_sigkill_fails_the_app_with_raise_exception(launch) -> None:
    """A work SIGKILLing itself with raise_exception=True: exit 1, stderr names signal 9 / SIGKILL."""
    run = ended(launch, "work_dies.py", "--env", "RAISE_EXCEPTION=1", "--env", "DEATH=sigkill")
    assert run.exit_code == 1, describe(run)
    assert "signal 9" in run.stderr and "SIGKILL" in run.stderr


# -- bad input ----------------------------------------------------------------------------------------------------


def assert_clean_error(run, must_contain: list[str]) -> None:  # noqa: ANN001
    """Non-zero exit; stderr names everything in ``must_contain`` and shows no frame of lightning-ctl's own code."""
    assert run.exit_code != 0, describe(run)
    for text in must_contain:
        assert text in run.stderr, f"{text!r} not in stderr:\n{run.stderr}"
    internal = [line for line in run.stderr.splitlines() if INTERNAL_FRAMES.search(line)]
    assert not internal, "stderr shows lightning-ctl's own frames:\n" + "\n".join(internal)
    assert len(run.stderr.splitlines()) <= 15, f"a long error for bad input:\n{run.stderr}"


@pytest.mark.e2e
def test_missing_app_file_is_a_clear_error(launch) -> None:
    """A missing app file: non-zero exit, a short error naming the file, no internal traceback."""
    run = ended(launch, "no_such_app.py")
    assert_clean_error(run, ["no_such_app.py"])
    assert len(run.stderr.strip().splitlines()) <= 2, run.stderr


@pytest.mark.e2e
def test_syntax_error_names_the_file_and_line(launch) -> None:
    """A syntax error in the app file: non-zero exit, the error names the file and line 8."""
    run = ended(launch, "bad/syntax_error.py")
    assert_clean_error(run, [f"{APPS / 'bad' / 'syntax_error.py'}:8", "SyntaxError"])


@pytest.mark.e2e
def test_import_raising_names_the_file_and_line(launch) -> None:
    """The app module raising on import: non-zero exit, the error names the file, the line and the exception."""
    run = ended(launch, "bad/import_raises.py")
    assert_clean_error(run, [f"{APPS / 'bad' / 'import_raises.py'}:9", "KeyError", "missing_key"])


@pytest.mark.e2e
def test_app_file_without_lightning_app_is_a_clear_error(launch) -> None:
    """An app file with no LightningApp: non-zero exit, a short error naming the file."""
    run = ended(launch, "bad/no_app.py")
    assert_clean_error(run, [str(APPS / "bad" / "no_app.py"), "LightningApp"])


@pytest.mark.e2e
def test_app_file_with_two_lightning_apps_is_a_clear_error(launch) -> None:
    """An app file with two LightningApps: non-zero exit, a short error naming the file."""
    run = ended(launch, "bad/two_apps.py")
    assert_clean_error(run, [str(APPS / "bad" / "two_apps.py"), "LightningApp"])


@pytest.mark.e2e
def test_non_json_attribute_in_flow_init_names_the_component_and_attribute(launch) -> None:
    """A set assigned to a flow's public attribute in __init__: a clean error naming the file and root.tags."""
    run = ended(launch, "bad/non_json_in_init.py")
    assert_clean_error(run, [str(APPS / "bad" / "non_json_in_init.py"), "tags"])
    # Not attached to the app yet: named by its place in the tree or by its class.
    assert "root.tags" in run.stderr or "Root.tags" in run.stderr, run.stderr


@pytest.mark.e2e
def test_non_json_attribute_in_flow_run_names_the_component_and_attribute(launch) -> None:
    """A set assigned to a flow's public attribute in run(): a clean error naming the file and root.tags."""
    run = ended(launch, "bad/non_json_in_run.py")
    assert_clean_error(run, [str(APPS / "bad" / "non_json_in_run.py"), "root.tags"])


@pytest.mark.e2e
def test_non_json_attribute_in_work_run_fails_the_work(launch) -> None:
    """A set assigned to a work's public attribute in run(): the call fails, its message names root.w.tags."""
    run = ended(launch, "non_json_in_work.py")
    assert run.exit_code == 0, describe(run)
    status = reported(run.stdout, "STATUS")
    assert status["stage"] == "failed"
    assert "root.w.tags" in status["message"]
    assert "JSON" in status["message"]
