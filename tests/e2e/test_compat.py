"""End-to-end: apps written for the former framework (lightning_app, lightning.app, ``import lightning as L``)
run unchanged under ``lightning-ctl run``: in the control plane and in every work process, on local and remote
agents.

The apps live in ``compat_apps/``; each is written in the style of the former framework's docs and tutorials.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from tests.e2e import TAG_VAR, lines_of
from tests.helpers import free_port
from tests.helpers.processes import LIGHTNING_AGENT, AppProcess, AppRun, run_app

COMPAT_APPS = Path(__file__).resolve().parent / "compat_apps"
TIMEOUT_S = 30.0

FAKE_PYTORCH_LIGHTNING = """\
__version__ = "2.9.0"


class Trainer:
    def __init__(self, max_epochs=1):
        self.max_epochs = max_epochs

    def fit(self):
        return f"fitted {self.max_epochs} epochs"
"""


@pytest.fixture
def tag() -> Iterator[str]:
    """A tag in the environment of every process a test starts; at teardown, whatever carries it dies."""
    value = uuid.uuid4().hex
    yield value
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get(TAG_VAR) == value:
                proc.kill()
        except (psutil.Error, OSError):
            continue


def finished(app: str, tag: str, env: dict[str, str] | None = None) -> AppRun:
    """Run ``compat_apps/<app>`` with the real CLI to its end and require exit status 0."""
    env = {**(env or {}), TAG_VAR: tag}
    run = run_app(COMPAT_APPS / app, "--stop-grace", "2", timeout_s=TIMEOUT_S, env=env)
    assert run.exit_code == 0, f"exit {run.exit_code}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    return run


def tagged_json(stdout: str, tag: str) -> object:
    """The JSON after ``<tag> `` on the last line the flow printed with that tag."""
    found = [line[len(tag) + 1 :] for line in stdout.splitlines() if line.startswith(tag + " ")]
    assert found, f"the app never printed {tag!r}; stdout:\n{stdout}"
    return json.loads(found[-1])


@pytest.mark.e2e
def test_hello_world_from_lightning_app(tag) -> None:
    """`from lightning_app import ...`: the work greets from its process, flow.stop() ends the app (0)."""
    run = finished("hello_world.py", tag)
    assert lines_of(run.stdout, "root.hello") == ["Hello World, from a LightningWork!"]
    assert "Hello World app finished" in run.stdout.splitlines()


@pytest.mark.e2e
def test_import_lightning_as_L_train_then_serve(tag) -> None:
    """`import lightning as L`: a parallel trainer's model_path reaches the flow, which starts the server."""
    run = finished("train_serve.py", tag)
    assert lines_of(run.stdout, "root.train") == [
        "epoch 1/3", "epoch 2/3", "epoch 3/3", "saved checkpoints/model-3-epochs.ckpt",
    ]
    assert lines_of(run.stdout, "root.serve") == ["loading checkpoints/model-3-epochs.ckpt"]
    assert "serving checkpoints/model-3-epochs.ckpt after 3 epochs on cpu-small" in run.stdout.splitlines()


@pytest.mark.e2e
def test_lightning_app_structures_dict_of_works_created_in_run(tag) -> None:
    """`from lightning.app import ...`: works added to a structures.Dict in run() run in their processes."""
    run = finished("dynamic_works.py", tag)
    for number in range(1, 5):
        assert lines_of(run.stdout, f"root.squares.square_{number}") == [f"{number} squared is {number ** 2}"]
    assert "results [('square_1', 1), ('square_2', 4), ('square_3', 9), ('square_4', 16)]" in run.stdout
    assert "sum of squares: 30" in run.stdout.splitlines()


@pytest.mark.e2e
def test_status_enums_pretty_state_and_testing_helpers(tag) -> None:
    """WorkStageStatus, pretty_state, is_overridden and EmptyWork from lightning_app.* work as documented."""
    run = finished("status_and_state.py", tag)
    assert lines_of(run.stdout, "root.greeter") == ["Hi Lightning"]
    assert tagged_json(run.stdout, "OVERRIDDEN") == {"run": True, "on_start": False}
    pretty = tagged_json(run.stdout, "PRETTY")
    stages = pretty["vars"].pop("stages")
    assert pretty == {"vars": {}, "works": {"empty": {}, "greeter": {"vars": {"greeting": "Hi Lightning"}}}}
    # A start-with-flow work may already be pending or started on the first tick (spec §3.8).
    lifecycle = ["not_started", "pending", "started", "running", "succeeded"]
    assert set(stages) <= set(lifecycle) and stages[-1] == "succeeded", stages
    order = [lifecycle.index(stage) for stage in stages]
    assert order == sorted(set(order)), f"stages out of lifecycle order: {stages}"
    assert "statuses checked" in run.stdout.splitlines()


@pytest.mark.e2e
def test_work_as_root_with_packaging_helpers(tag) -> None:
    """LightningApp(work) with lightning_app.utilities.packaging runs the work (root.work) once, then ends."""
    run = finished("work_as_root.py", tag)
    assert lines_of(run.stdout, "root.work") == [
        "running on cpu-medium with 10 GB of disk", "would install ['numpy']",
    ]


@pytest.mark.e2e
def test_app_that_also_trains_with_a_real_pytorch_lightning(tag, tmp_path) -> None:
    """With a real `lightning` installed, L.Trainer (in a work) and L.LightningWork both work in one app."""
    site = tmp_path / "site"
    (site / "lightning" / "pytorch").mkdir(parents=True)
    (site / "lightning" / "__init__.py").write_text(FAKE_PYTORCH_LIGHTNING)
    (site / "lightning" / "pytorch" / "__init__.py").write_text(
        "def seed_everything(seed):\n    return seed\n"
    )
    pythonpath = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    run = finished("with_trainer.py", tag, env={"PYTHONPATH": pythonpath})
    assert lines_of(run.stdout, "root.fit") == ["lightning 2.9.0: fitted 2 epochs (seed 7)"]
    assert "flow sees 'fitted 2 epochs (seed 7)', Trainer from lightning 2.9.0" in run.stdout.splitlines()


@pytest.mark.e2e
def test_compat_app_on_a_remote_agent(tag, tmp_path) -> None:
    """A compat app placed on a remote agent succeeds: its work processes, which run from the shipped copy of
    the app folder, resolve the lightning.app imports too."""
    port, token, join_token = free_port(), uuid.uuid4().hex, uuid.uuid4().hex
    work_dir, state_dir = tmp_path / "work", tmp_path / "state"
    work_dir.mkdir()
    state_dir.mkdir()
    control_plane = AppProcess(
        COMPAT_APPS / "dynamic_works.py", "--no-local-agent", "--port", str(port), "--token", token,
        "--join-token", join_token,
        "--stop-grace", "2", env={TAG_VAR: tag},
    )
    with open(tmp_path / "agent.out", "wb") as agent_out:
        agent = subprocess.Popen(
            [LIGHTNING_AGENT, "--control-plane", f"127.0.0.1:{port}", "--work-dir", str(work_dir),
             "--state-dir", str(state_dir), "--log-level", "warning"],
            env={**os.environ, "LIGHTNING_AGENT_JOIN_TOKEN": join_token, TAG_VAR: tag},
            stdin=subprocess.DEVNULL, stdout=agent_out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        run = control_plane.wait(TIMEOUT_S)
        agent_log = (tmp_path / "agent.out").read_text(errors="replace")
        assert run.exit_code == 0, f"exit {run.exit_code}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}\n" \
                                   f"agent:\n{agent_log}"
        for number in range(1, 5):
            work_lines = lines_of(run.stdout, f"root.squares.square_{number}")
            assert work_lines == [f"{number} squared is {number ** 2}"]
        assert "sum of squares: 30" in run.stdout.splitlines()
        shipped = [*work_dir.rglob("dynamic_works.py"), *state_dir.rglob("dynamic_works.py")]
        assert shipped, f"the agent holds no shipped copy of the app under {work_dir} or {state_dir}"
    finally:
        control_plane.kill_all()
        try:
            os.killpg(agent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        agent.wait(timeout=10)


@pytest.mark.e2e
@pytest.mark.parametrize("args, expected", [
    ((), "FLOW cpu-small WORK cpu-small "),
    (("--", "--use_gpu"), "FLOW cpu-medium WORK cpu-medium --use_gpu"),
    (("--app_args", "--use_gpu"), "FLOW cpu-medium WORK cpu-medium --use_gpu"),
])
def test_app_arguments_reach_the_app_file_in_every_process(tag: str, args: tuple[str, ...], expected: str) -> None:
    """An app file that parses its own command line at module level (the former framework's argparse example) sees
    [APP_FILE, APP_ARG...] in the control plane and in its work's process."""
    run = run_app(COMPAT_APPS / "argparse_app.py", "--stop-grace", "2", *args, timeout_s=TIMEOUT_S,
                  env={TAG_VAR: tag})
    assert run.exit_code == 0, f"{run.stdout}\n{run.stderr}"
    assert expected in run.stdout.splitlines()
