"""End-to-end: an app whose folder holds files named like our packages (agent.py, sdk.py, protos.py,
controlplane.py, even lightning_ctl.py) runs, and imports its own sdk.py; none of them shadows lightning-ctl's modules
in the control plane, the local agent, the fork server, a cold-started work process or a remote agent's bundle."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.e2e import lines_of, reported
from tests.helpers.agents import Cluster
from tests.helpers.processes import run_app

SHADOWING = ("agent", "protos", "controlplane", "lightning_ctl")
APP = '''
import json

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork
from sdk import greeting  # the user's own sdk.py, beside the app


class Greeter(LightningWork):
    def __init__(self):
        super().__init__()
        self.said = ""

    def run(self):
        from sdk import greeting as in_work
        self.said = in_work("work")
        print("said", self.said)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = Greeter()

    def run(self):
        self.w.run()
        if self.w.has_succeeded:
            print("GREETINGS " + json.dumps([greeting("flow"), self.w.said]))
            self.stop()


app = LightningApp(Root())
'''


def user_folder(root: Path) -> Path:
    """A folder with the app, the user's sdk.py, and files that exit loudly if anything imports them."""
    folder = root / "user app"
    folder.mkdir()
    (folder / "app.py").write_text(textwrap.dedent(APP))
    (folder / "sdk.py").write_text("def greeting(who):\n    return f'hello from the user sdk.py to the {who}'\n")
    for name in SHADOWING:
        (folder / f"{name}.py").write_text(f'raise SystemExit("the user file {name}.py was imported")\n')
    return folder


EXPECTED = ["hello from the user sdk.py to the flow", "hello from the user sdk.py to the work"]


@pytest.mark.e2e
def test_user_files_named_like_our_packages_shadow_nothing(tmp_path: Path) -> None:
    """With the local agent and its fork server, run from the user's folder: the app's own sdk.py is what it gets."""
    folder = user_folder(tmp_path)
    run = run_app(folder / "app.py", "--stop-grace", "2", cwd=folder, env={"HOME": str(tmp_path / "home")})
    assert run.exit_code == 0, f"{run.stdout}\n{run.stderr}"
    assert reported(run.stdout, "GREETINGS") == EXPECTED
    assert "was imported" not in run.stdout + run.stderr


@pytest.mark.e2e
def test_user_files_shadow_nothing_on_a_cold_started_remote_work(cluster: Cluster, tmp_path: Path) -> None:
    """A remote agent without a fork server (exec'd work processes, cwd in the unpacked bundle) is immune too."""
    folder = user_folder(tmp_path)
    cluster.control_plane(folder / "app.py")
    cluster.agent("a", "--no-fork-server", "--cpus", "4")
    run = cluster.wait_app(30)
    assert run.exit_code == 0, cluster.output()
    assert reported(run.stdout, "GREETINGS") == EXPECTED
    assert lines_of(run.stdout, "root.w") == [f"said {EXPECTED[1]}"]
    assert "was imported" not in cluster.output()
