"""End-to-end: how flows and works run and talk (spec §3.4-3.5, §3.8-3.9, §4.2-4.3), on a real control plane."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e import APPS, PYTHON, lines_of, reported

TIMEOUT_S = 20.0


def finished(launch, app: str, *args: str):  # noqa: ANN001, ANN201 - fixture callable, AppRun
    """Run ``app`` to its end (works get 2 s to stop at teardown) and require exit status 0."""
    run = launch(app, "--stop-grace", "2", *args).wait(TIMEOUT_S)
    assert run.exit_code == 0, f"exit {run.exit_code}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    return run


@pytest.mark.e2e
def test_work_attribute_changes_reach_the_flow(launch) -> None:
    """A counter work's successive assignments to ``count`` show up in the flow, which stops the app (exit 0)."""
    run = finished(launch, "counter.py")
    assert lines_of(run.stdout, "root.counter") == [f"count is {i}" for i in range(1, 6)]
    seen = reported(run.stdout, "SEEN")
    assert seen == sorted(seen) and seen[0] == 0 and seen[-1] == 5, seen
    assert len(seen) >= 3, f"the flow should see intermediate values, saw only {seen}"
    assert "flow sees count=5" in run.stdout and "counter done" in run.stdout


@pytest.mark.e2e
def test_cache_calls_true_runs_the_same_arguments_once(launch) -> None:
    """cache_calls=True: run(1) three times and run(2) once execute twice in all (once per distinct argument)."""
    run = finished(launch, "caching.py")
    cached = reported(run.stdout, "CACHED")
    assert cached == {"executions": 2, "args": [1, 2], "num_successes": 2}
    assert lines_of(run.stdout, "root.cached") == ["executing run(1) #1", "executing run(2) #2"]


@pytest.mark.e2e
def test_cache_calls_false_reruns_and_num_successes_counts_every_run(launch) -> None:
    """cache_calls=False: the same arguments run again on each call; 5 runs of run(7) give num_successes == 5."""
    run = finished(launch, "caching.py")
    uncached = reported(run.stdout, "UNCACHED")
    assert uncached == {"executions": 5, "args": [7] * 5, "num_successes": 5}
    assert lines_of(run.stdout, "root.uncached") == [f"executing run(7) #{i}" for i in range(1, 6)]


@pytest.mark.e2e
def test_equal_arguments_of_different_types_are_distinct_calls(launch) -> None:
    """run(1), run(1.0), run(True) and run("1") are four executions, each receiving its value with its type."""
    run = finished(launch, "call_hashes.py")
    assert reported(run.stdout, "RECEIVED") == ["1", "1.0", "True", "'1'"]
    assert reported(run.stdout, "NUM_SUCCESSES") == 4
    assert lines_of(run.stdout, "root.w") == ["executing run(1)", "executing run(1.0)", "executing run(True)",
                                              "executing run('1')"]


@pytest.mark.e2e
def test_non_parallel_call_interrupts_the_flow_body_until_it_finished(launch) -> None:
    """The line after a non-parallel ``blk.run()`` runs once, only after the call has succeeded."""
    run = finished(launch, "blocking_call.py")
    assert run.stdout.splitlines().count("after blk.run()") == 1
    after = reported(run.stdout, "AFTER")
    assert after["stage"] == "succeeded"
    assert after["finished_at"] > 0 and after["now"] >= after["finished_at"]
    assert after["ticks_before"] > 1, "the flow body should have run again from the top while the call ran"


@pytest.mark.e2e
def test_parallel_calls_return_at_once_and_run_concurrently(launch) -> None:
    """Two parallel calls return at once (the next line runs in the same tick) and their runs overlap in time."""
    run = finished(launch, "parallel_calls.py")
    assert reported(run.stdout, "AFTER_CALLS") in (["pending", "pending"], ["started", "started"],
                                                   ["pending", "started"], ["started", "pending"])
    times = reported(run.stdout, "TIMES")
    (start_1, end_1), (start_2, end_2) = times["one"], times["two"]
    assert max(start_1, start_2) < min(end_1, end_2), f"the runs did not overlap: {times}"


@pytest.mark.e2e
def test_calls_with_new_arguments_queue_first_in_first_out(launch) -> None:
    """A parallel work called with a, b, c in one tick executes them in that order, one at a time."""
    run = finished(launch, "fifo_calls.py")
    assert reported(run.stdout, "ORDER") == ["a", "b", "c"]
    assert lines_of(run.stdout, "root.w") == ["running a", "running b", "running c"]


@pytest.mark.e2e
def test_in_place_mutations_reach_the_flow_during_and_by_the_end_of_the_call(launch) -> None:
    """list.append / d[k] = v in a running work are seen by the flow before the call ends, and all by its end."""
    run = finished(launch, "inplace_mutations.py")
    result = reported(run.stdout, "RESULT")
    seen = result["seen_during"]
    assert seen is not None, "the flow never saw the in-place mutations"
    assert seen["stage"] == "running"
    assert seen["at"] < result["succeeded_at"] - 0.5, f"seen only when the call ended: {result}"
    assert result["items"] == ["during", "at-end"]
    assert result["d"] == {"k": "v", "end": True}


@pytest.mark.e2e
def test_every_assignment_reaches_the_flow_in_order(launch) -> None:
    """200 fast assignments of a growing list reach the flow in order: the lengths it sees increase up to 200."""
    run = finished(launch, "ordered_assignments.py")
    lengths = reported(run.stdout, "LENGTHS")
    assert all(a < b for a, b in zip(lengths, lengths[1:], strict=False)), lengths
    assert lengths[-1] == 200
    assert reported(run.stdout, "SEQ_OK") is True


@pytest.mark.e2e
def test_flow_changes_reach_a_running_work(launch) -> None:
    """The flow sets ``w.knob = 1`` on a running parallel work; the work sees it and reports it back."""
    run = finished(launch, "flow_to_work.py")
    assert lines_of(run.stdout, "root.w") == ["work saw knob=1"]
    assert reported(run.stdout, "REPORTED") == 1


@pytest.mark.e2e
def test_a_call_carries_the_flows_current_view(launch) -> None:
    """``w.x = 5`` set by the flow just before ``w.run()`` is what the work's run sees."""
    run = finished(launch, "call_carries_view.py")
    assert lines_of(run.stdout, "root.w") == ["x in run = 5"]
    assert reported(run.stdout, "X_IN_RUN") == 5


@pytest.mark.e2e
def test_nested_flows_and_structures_name_and_run_their_works(launch) -> None:
    """Works two flows deep and in Dict/List (items added in run() too) run, named root.a.b.w, root.d.key..."""
    run = finished(launch, "nested.py")
    names = ["root.a.b.w", "root.d.key", "root.d.late", "root.l.0", "root.l.1"]
    for name in names:
        assert lines_of(run.stdout, name) == [f"hello from {name}"], f"{name} missing; stdout:\n{run.stdout}"
    assert reported(run.stdout, "NAMES") == names


@pytest.mark.e2e
def test_on_start_runs_before_the_first_call(launch) -> None:
    """on_start runs in the work's process before its first call, for eager and lazy works alike."""
    run = finished(launch, "start_with_flow.py")
    for name in ("root.eager", "root.lazy"):
        assert lines_of(run.stdout, name) == ["on_start", "run (on_start_ran=True)"]


@pytest.mark.e2e
def test_start_with_flow_work_is_started_on_the_first_flow_run(launch) -> None:
    """A start_with_flow work's status is "started" on the flow's first run (on_start already ran)."""
    run = finished(launch, "start_with_flow.py")
    assert reported(run.stdout, "FIRST_RUN")["eager"] == "started"


@pytest.mark.e2e
def test_start_with_flow_false_work_stays_not_started_until_called(launch) -> None:
    """A start_with_flow=False work is "not_started" (no process, no on_start) until the flow calls it."""
    run = finished(launch, "start_with_flow.py")
    assert reported(run.stdout, "FIRST_RUN")["lazy"] == "not_started"
    assert reported(run.stdout, "LAZY_AFTER_EAGER") == {"lazy": "not_started", "eager": "succeeded"}
    lines = run.stdout.splitlines()
    assert lines.index("root.lazy | on_start") > next(i for i, line in enumerate(lines) if line.startswith("LAZY_AFTER"))


@pytest.mark.e2e
def test_status_goes_pending_running_succeeded_with_timestamps(launch) -> None:
    """The flow sees not_started → pending → running → succeeded, timestamps in order, has_*/is_* matching."""
    run = finished(launch, "statuses.py")
    stages = reported(run.stdout, "STAGES")
    assert [stage for stage, _ in stages] == ["not_started", "pending", "running", "succeeded"]
    stamps = [ts for _, ts in stages]
    assert stamps == sorted(stamps)
    assert stamps[3] - stamps[2] >= 0.45, "running → succeeded should span the 0.5 s run"
    flags = reported(run.stdout, "FLAGS")
    assert flags["pending"]["is_pending"] and flags["pending"]["has_started"]
    assert flags["running"]["is_running"] and not flags["running"]["has_succeeded"]
    assert flags["succeeded"] == {"has_started": True, "is_pending": False, "is_running": False,
                                  "has_succeeded": True, "has_failed": False, "has_stopped": False}
    assert not any(flags["not_started"].values())
    assert reported(run.stdout, "STATUSES") == ["pending", "running", "succeeded"]


@pytest.mark.e2e
def test_schedule_fires_at_registration_and_then_every_second(launch) -> None:
    """schedule("* * * * * */1") is True on its first evaluation and again within ~2.5 s; two firings end it."""
    run = finished(launch, "schedule.py")
    first, second = reported(run.stdout, "FIRED")
    assert first < 0.5, "the first evaluation (registration) should fire"
    assert first < second <= first + 2.5


@pytest.mark.e2e
def test_env_option_reaches_the_flow_and_the_work(launch) -> None:
    """``--env E2E_GREETING=hi-there`` is in os.environ in the flow and in the work's process."""
    run = finished(launch, "env_vars.py", "--env", "E2E_GREETING=hi-there")
    assert reported(run.stdout, "FLOW_ENV") == "hi-there"
    assert lines_of(run.stdout, "root.w") == ["work env E2E_GREETING=hi-there"]


@pytest.mark.e2e
def test_inline_python_script_caches_calls(tmp_path) -> None:
    """A plain ``python script.py`` calling w.run(2) twice (cache_calls=True) executes once; w.run(3) runs again."""
    done = subprocess.run([PYTHON, str(APPS / "inline_script.py")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert reported(done.stdout, "AFTER_SAME") == 1
    assert reported(done.stdout, "AFTER_NEW") == 2
    assert reported(done.stdout, "STATUS") == "succeeded"
    assert [line for line in done.stdout.splitlines() if line.startswith("executing")] == ["executing run(2)",
                                                                                 "executing run(3)"]
