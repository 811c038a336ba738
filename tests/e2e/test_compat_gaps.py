"""End-to-end: parts of the former framework its docs show, run unchanged: CloudCompute(wait_timeout=..., spot=...),
lightning.app.pdb.set_trace in a work, MultiProcessRuntime(app).dispatch() under plain `python app.py`, bytes and
other pickled-then values as run() arguments, and Mount (refused, naming the work and what to use instead).

The apps live in ``compat_apps/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import APPS, PYTHON, TAG_VAR, kill_tagged, lines_of
from tests.helpers.processes import LIGHTNING_CTL, AppProcess, run_app

COMPAT_APPS = Path(__file__).resolve().parent / "compat_apps"
REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60.0


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment of its own (HOME, a TMPDIR short enough for sockets, a tag on every process); whatever
    carries the tag dies at the end."""
    tag = uuid.uuid4().hex
    temporary = tempfile.mkdtemp(prefix="lctl-", dir="/tmp")
    try:
        yield {"HOME": str(tmp_path), "TMPDIR": temporary, TAG_VAR: tag}
    finally:
        kill_tagged(tag)
        shutil.rmtree(temporary, ignore_errors=True)


def ctl(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``lightning-ctl *args`` in the test's environment."""
    return subprocess.run([LIGHTNING_CTL, *args], env={**os.environ, **env}, input=stdin, capture_output=True,
                          text=True, timeout=TIMEOUT_S, check=False)


@pytest.mark.e2e
def test_wait_timeout_fails_the_work_with_reason_timeout_in_status(env) -> None:
    """A work no agent can take fails 2 s after its launch with reason timeout: the flow sees has_timeout and
    `lightning-ctl status` shows it (failed, timeout, why it waited); the app goes on until stopped."""
    process = AppProcess(COMPAT_APPS / "wait_timeout.py", "--stop-grace", "2", env=env)
    try:
        line = process.wait_for_line("TIMED OUT", TIMEOUT_S)
        assert line.startswith("TIMED OUT 1 no machine took work root.component within its wait_timeout of 2 s")
        status = ctl(env, "status", "--json")
        assert status.returncode == 0, status.stderr
        (work,) = [w for w in json.loads(status.stdout)["works"] if w["name"] == "root.component"]
        assert (work["status"], work["reason"]) == ("failed", "timeout"), work
        assert "64 GPUs" in work["message"]
        assert ctl(env, "stop").returncode == 0
        assert process.wait(TIMEOUT_S).exit_code == 0
    finally:
        process.kill_all()


@pytest.mark.e2e
def test_spot_is_accepted_with_one_warning(env) -> None:
    """CloudCompute("gpu", wait_timeout=60, spot=True), the docs' spot example: the work runs, the console says
    once that spot has no effect, the app ends 0."""
    run = run_app(COMPAT_APPS / "spot_work.py", "--stop-grace", "2", env=env, timeout_s=TIMEOUT_S)
    assert run.exit_code == 0, run.stderr
    assert lines_of(run.stdout, "root.work") == ["RUN ANY PYTHON CODE HERE"]
    assert run.stderr.count("interruptible_has_no_effect") == 1, run.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("app_file", [COMPAT_APPS / "debug_work.py", APPS / "breakpoint_work.py"],
                         ids=["set_trace", "breakpoint"])
def test_set_trace_in_a_work_is_attached_to_with_lightning_ctl_debug(env, app_file: Path) -> None:
    """A work paused in lightning.app.pdb.set_trace() (or the built-in breakpoint()) prints `lightning-ctl debug
    SOCKET`; attached, pdb shows its locals, `c` lets the call finish with the value the debugger saw, and the app
    ends 0."""
    process = AppProcess(app_file, "--stop-grace", "2", env=env)
    try:
        line = process.wait_for_line("is paused in a debugger", TIMEOUT_S)
        socket_path = re.search(r"lightning-ctl debug (\S+)$", line).group(1)
        assert line.startswith("root.component | [lightning-ctl] root.component is paused in a debugger at ")
        assert socket_path.startswith(env["TMPDIR"]) and oct(os.stat(socket_path).st_mode & 0o777) == "0o600"
        session = ctl(env, "debug", stdin="p doubled\nl\nc\n")  # no SOCKET: the one waiting here
        assert session.returncode == 0, session.stderr
        assert "(Pdb) 42" in session.stdout and "->\t        self.result = doubled" in session.stdout
        run = process.wait(TIMEOUT_S)
        assert run.exit_code == 0 and "RESULT 42" in run.stdout.splitlines(), run.stderr
        assert not os.path.exists(socket_path)
    finally:
        process.kill_all()


@pytest.mark.e2e
def test_debug_without_a_paused_work_says_so(env) -> None:
    """`lightning-ctl debug` with no debugger waiting exits 1 saying so."""
    result = ctl(env, "debug")
    assert result.returncode == 1 and "no work is paused in a debugger" in result.stderr


@pytest.fixture
def compat_hook(tmp_path: Path) -> Path:
    """A folder that, on PYTHONPATH, installs the `lightning_ctl_compat.pth` import hook as a real installation
    does (this test venv is an editable install, which does not put the hook in site-packages)."""
    folder = tmp_path / "hook"
    folder.mkdir()
    shutil.copy2(REPO / "lightning_ctl_compat.pth", folder)
    (folder / "sitecustomize.py").write_text(f"import site\nsite.addsitedir({str(folder)!r})\n")
    return folder


@pytest.mark.e2e
def test_python_app_py_with_dispatch_runs_through_the_control_plane(env, compat_hook) -> None:
    """`python dispatch_app.py --epochs 3` (MultiProcessRuntime(app).dispatch() at its bottom) becomes
    `lightning-ctl run`: the banner, each work's line from its own process (prefixed), the app's own argument
    seen by the works, exit 0."""
    app_file = COMPAT_APPS / "dispatch_app.py"
    run = subprocess.run([PYTHON, str(app_file), "--epochs", "3"], cwd=app_file.parent,
                         env={**os.environ, **env, "PYTHONPATH": str(compat_hook)}, capture_output=True, text=True,
                         timeout=TIMEOUT_S, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "control plane on 127.0.0.1:" in run.stderr
    assert lines_of(run.stdout, "root.train") == ["train a model on GPU machine 1 with ['--epochs', '3']"]
    assert lines_of(run.stdout, "root.analyze") == ["analyze model on CPU machine 2"]
    assert "both ran" in run.stdout.splitlines()


@pytest.mark.e2e
def test_bytes_tuples_sets_and_int_keys_reach_the_work_as_they_were(env) -> None:
    """run(b"...", size=(64, 64), tags=frozenset(...), table={1: "one"}): the work gets bytes, a tuple, a frozenset
    and an int-keyed dict, and two calls differing only in their bytes both run."""
    run = run_app(COMPAT_APPS / "call_values.py", "--stop-grace", "2", env=env, timeout_s=TIMEOUT_S)
    assert run.exit_code == 0, run.stderr
    seen = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("SEEN "))[5:])
    assert seen == [["bytes", "tuple", "frozenset", "dict"]] * 2
    received = [json.loads(line[len("RECEIVED "):]) for line in lines_of(run.stdout, "root.checker")]
    assert received == [["it is not a pickle", [64, 64], ["a", "b"], [[1, "one"]]],
                        ["it is a pickle", [64, 64], ["a", "b"], [[1, "one"]]]]


@pytest.mark.e2e
def test_mount_is_refused_at_load_naming_the_work_and_what_to_use(env) -> None:
    """A work with CloudCompute(mounts=Mount(...)): `lightning-ctl run` exits 1 before running anything, naming
    the work, the bucket, and Drive/--storage instead; no work process ran."""
    run = run_app(COMPAT_APPS / "mount_work.py", env=env, timeout_s=TIMEOUT_S)
    assert run.exit_code == 1
    assert "mount_work.py:18: loading the app raised NotSupportedError: root.work: CloudCompute(mounts=...)" in run.stderr
    assert "s3://lightning-example-public/ at /foo" in run.stderr and "Drive" in run.stderr
    assert "--storage s3://" in run.stderr
    assert not lines_of(run.stdout, "root.work")


@pytest.mark.e2e
def test_a_value_that_cannot_cross_fails_the_flow_naming_it(env, tmp_path: Path) -> None:
    """A datetime passed to run() fails the app in the flow, naming the work, the argument and what may cross."""
    app_file = tmp_path / "datetime_arg.py"
    app_file.write_text(
        "import datetime\n"
        "from lightning.app import LightningApp, LightningFlow, LightningWork\n"
        "class W(LightningWork):\n    def run(self, when):\n        print(when)\n"
        "class Root(LightningFlow):\n    def __init__(self):\n        super().__init__()\n        self.w = W()\n"
        "    def run(self):\n        self.w.run(when=datetime.datetime(2024, 1, 1))\n"
        "app = LightningApp(Root())\n"
    )
    run = run_app(app_file, env=env, timeout_s=TIMEOUT_S)
    assert run.exit_code == 1
    assert "root.w.run(...)" in run.stderr and "datetime.datetime" in run.stderr and "bytes" in run.stderr
    assert "datetime_arg.py\", line 11" in run.stderr  # the user's call, not our code
