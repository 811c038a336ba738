"""End-to-end with the local provider (agents on demand as processes on this machine; runs anywhere): a work
waits, an agent is started for it with exactly its resources and runs it, and is released once idle; bad
provider flags are usage errors naming the flag."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e import tagged
from tests.helpers import wait_until
from tests.helpers.processes import LIGHTNING_CTL, AppProcess

APP = Path(__file__).resolve().parent / "apps_providers" / "on_demand.py"


def ctl(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LIGHTNING_CTL_TOKEN", "LIGHTNING_CTL_ADDRESS")}
    return subprocess.run([LIGHTNING_CTL, *args], env={**env, "HOME": str(home)}, capture_output=True, text=True,
                          timeout=30)


@pytest.mark.e2e
def test_an_agent_is_started_for_a_waiting_work_and_released_once_idle(tmp_path: Path) -> None:
    """A 1-GPU work gets a local agent offering one of the declared GPUs; once the work is stopped, the agent
    is released after --agent-idle-timeout and its process ends."""
    tag = "providers-" + tmp_path.name
    app = AppProcess(APP, "--provider", "local", "--provider-option", "gpus=0,1", "--provider-option",
                     "poll-interval=0.2", "--agent-idle-timeout", "1",
                     env={"HOME": str(tmp_path), "ON_DEMAND_STOP": "works", "LIGHTNING_CTL_E2E_TAG": tag})
    try:
        app.wait_for_line("STARTED", 60)
        facts = json.loads(next(line for line in app.stdout_lines if "STARTED" in line).split("STARTED ", 1)[1])
        assert facts["cuda"] == "0", facts

        def released() -> dict | None:  # type: ignore[type-arg]
            result = ctl(tmp_path, "agents", "--json")
            found = [a["request"] for a in json.loads(result.stdout or "[]") if a["request"]]
            return found[0] if found and found[0]["state"] == "released" else None

        request = wait_until(released, 60, 0.2, what="the idle agent released")
        assert "idle" in request["reason"] and request["engine"] == "local"
        pid = int(request["engine_id"].split("@")[0])
        wait_until(lambda: not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2],
                   30, 0.1, what="the released agent's process to end")
        assert ctl(tmp_path, "stop").returncode == 0
        assert app.wait(60).exit_code == 0
    finally:
        app.kill_all()
        for pid in tagged(tag):
            os.kill(pid, 9)


@pytest.mark.e2e
@pytest.mark.parametrize("args, named", [
    (("--provider-option", "partition=gpu"), "--provider-option needs --provider"),
    (("--provider", "slurm", "--provider-option", "partiton=gpu"), "partiton: unknown to the slurm provider"),
    (("--provider", "local", "--provider-option", "gpus"), "KEY=VALUE"),
])
def test_bad_provider_flags_are_usage_errors_naming_the_flag(tmp_path: Path, args: tuple[str, ...],
                                                             named: str) -> None:
    """Exit status 2 and a message naming what is wrong; nothing is started."""
    result = subprocess.run([LIGHTNING_CTL, "run", str(APP), *args], env={**os.environ, "HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
