"""End-to-end on a real Slurm cluster (``tests/helpers/slurm.py``: slurmctld and two slurmd nodes with 2 fake
GPUs each, on this machine): ``lightning-ctl run --provider slurm`` submits one job per waiting work, the agent
``srun`` starts in it joins and runs the work; Slurm's reason shows while a job waits; idle agents are released;
a job cancelled under a running work loses the work to its restart policy; a restarted control plane finds its
jobs again. Skipped, saying why, where Slurm is not installed or the tests do not run as root."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.e2e import tagged
from tests.helpers import wait_until
from tests.helpers.processes import LIGHTNING_CTL, AppProcess
from tests.helpers.slurm import SlurmCluster, skip_reason

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")]

APP = Path(__file__).resolve().parent / "apps_providers" / "on_demand.py"
TAG_VAR = "LIGHTNING_CTL_E2E_TAG"
TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def slurm() -> Iterator[SlurmCluster]:
    """One cluster for the module (its folder is short: slurmd's socket paths must stay under 108 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="lcs-", dir="/tmp"))
    cluster = SlurmCluster(root)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        subprocess.run(["rm", "-rf", str(root)], check=False)


class Run:
    """One ``lightning-ctl run --provider slurm`` of the on-demand app, with its own HOME."""

    def __init__(self, slurm: SlurmCluster, home: Path, tag: str) -> None:
        self.slurm = slurm
        self.home = home
        self.tag = tag
        self.app: AppProcess | None = None

    def start(self, *args: str, env: dict[str, str] | None = None, **knobs: Any) -> AppProcess:
        env = {"HOME": str(self.home), TAG_VAR: self.tag, **self.slurm.env, **(env or {}),
               **{f"ON_DEMAND_{k.upper()}": str(v) for k, v in knobs.items()}}
        self.app = AppProcess(APP, "--provider", "slurm", "--provider-option", "poll-interval=0.5",
                              "--log-level", "info", *args, env=env)
        return self.app

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("LIGHTNING_CTL_TOKEN", "LIGHTNING_CTL_ADDRESS")}
        return subprocess.run([LIGHTNING_CTL, *args], env={**env, "HOME": str(self.home)}, capture_output=True,
                              text=True, timeout=30)

    def requests(self) -> list[dict[str, Any]]:
        """The engine requests ``lightning-ctl agents --json`` shows ([] when the app cannot be reached)."""
        result = self.ctl("agents", "--json")
        if result.returncode != 0:
            return []
        return [a["request"] for a in json.loads(result.stdout) if a["request"] is not None]

    def wait_request(self, what: str, predicate: Any, timeout_s: float = TIMEOUT_S) -> list[dict[str, Any]]:
        def check() -> list[dict[str, Any]] | None:
            found = self.requests()
            return found if predicate(found) else None

        try:
            return wait_until(check, timeout_s, 0.2, what=what)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.requests()}\n{self.output()}") from None

    def output(self) -> str:
        app = self.app
        out = f"--- exit {app.proc.poll()} stdout\n{app.stdout}\n--- stderr\n" + "\n".join(app.stderr_lines[-60:]) if app else ""
        return out + f"\n--- squeue {self.slurm.jobs()}"


@pytest.fixture
def run(slurm: SlurmCluster, tmp_path: Path) -> Iterator[Run]:
    """A Run; at teardown its processes are killed (by tag: agents in Slurm jobs carry it too) and its jobs
    cancelled, so the next test finds an empty cluster."""
    tag = uuid.uuid4().hex
    home = tmp_path / "home"
    home.mkdir()
    current = Run(slurm, home, tag)
    try:
        yield current
    finally:
        if current.app is not None:
            current.app.kill_all()
        active = slurm.jobs(active_only=True)
        if active:
            slurm.run("scancel", *active, check=False)
        for pid in tagged(tag):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait_until(lambda: not slurm.jobs(active_only=True), 60.0, 0.2, what="the cluster to empty")


def started(app: AppProcess) -> list[dict[str, Any]]:
    """The facts each work printed as it started."""
    return [json.loads(line.split("STARTED ", 1)[1]) for line in app.stdout_lines if "STARTED " in line]


def test_work_runs_on_an_agent_slurm_started_and_its_job_ends_with_the_app(run: Run) -> None:
    """A 1-GPU work is placed on the agent of the Slurm job submitted for it (seeing that job's GPU), the request
    shows as joined with its job id, and the job is cancelled when the app ends. The control plane's own
    credentials (its operator token and fixed join token, here in its environment) never reach the job: only the
    agent starts with its one-time join token, and the work holds no credential."""
    secrets = {"LIGHTNING_CTL_TOKEN": uuid.uuid4().hex, "LIGHTNING_CTL_JOIN_TOKEN": uuid.uuid4().hex}
    app = run.start(hold_s=3, env=secrets)
    joined = run.wait_request("the request to join", lambda rs: rs and rs[0]["state"] == "joined")
    job_id = joined[0]["engine_id"]
    assert joined[0]["engine"] == "slurm" and joined[0]["work"] == "root.probes.0"
    assert run.slurm.jobs()[job_id][2] == f"lightning-agent-{joined[0]['request_id']}"
    assert app.wait(TIMEOUT_S).exit_code == 0, run.output()
    (facts,) = started(app)
    assert facts["job"] == job_id, f"the work ran outside the job submitted for it: {facts}"
    assert facts["cuda"] == "0", f"the work did not get the job's one GPU: {facts}"
    assert facts["credentials"] == [], f"the work holds credentials: {facts}"
    assert facts["credentials_in_job"] and all(
        names == ["LIGHTNING_AGENT_JOIN_TOKEN"] for names in facts["credentials_in_job"].values()
    ), f"the job's processes started with other credentials than the agent's join token: {facts}"
    wait_until(lambda: run.slurm.jobs()[job_id][0] not in ("RUNNING", "PENDING", "COMPLETING"), TIMEOUT_S, 0.2,
               what=f"job {job_id} to end with the app: {run.slurm.jobs()}")


@pytest.mark.e2e
def test_a_gang_is_one_slurm_job_of_n_nodes(run: Run) -> None:
    """A 2-node MultiNode of 1-GPU nodes is ONE request of 2 nodes: one sbatch job, one agent on each Slurm node,
    the gang placed on them together (one node each, meeting at node 0's address)."""
    app = run.start(gang=2, hold_s=1)
    joined = run.wait_request("the gang's request to join", lambda rs: rs and rs[0]["state"] == "joined")
    # One line per agent: both agents answer the one request.
    assert {(r["request_id"], r["engine_id"], r["nodes"], r["work"]) for r in joined} == {
        (joined[0]["request_id"], joined[0]["engine_id"], 2, "root.gang")}, joined
    assert app.wait(TIMEOUT_S).exit_code == 0, run.output()
    nodes = [json.loads(line.split("NODE ", 1)[1]) for line in app.stdout_lines if "NODE {" in line]
    assert sorted(n["rank"] for n in nodes) == [0, 1], run.output()
    assert {n["job"] for n in nodes} == {joined[0]["engine_id"]}, "the nodes ran outside the gang's one job"
    assert sorted(n["node"] for n in nodes) == ["n1", "n2"], "two nodes shared a Slurm node"


def test_a_work_without_capacity_waits_showing_slurms_reason(run: Run) -> None:
    """Three works of 2 GPUs on two nodes of 2 GPUs: two run, the third's job waits and both its request and the
    work's status show Slurm's reason (Resources), with exactly one job per work (an agent may take another waiting
work than the one it was asked for: requests follow the works, never doubling)."""
    run.start(works=3, gpus=2, hold_s=120, stop=0)
    requests = run.wait_request(
        "two joined requests and one queued with a reason",
        lambda rs: sorted(r["state"] for r in rs) == ["joined", "joined", "queued"]
        and all(r["reason"] for r in rs if r["state"] == "queued"))
    queued = next(r for r in requests if r["state"] == "queued")
    assert queued["reason"] in ("Resources", "Priority"), queued
    ours = [j for j in run.slurm.jobs(active_only=True).values() if j[2].startswith("lightning-agent-")]
    assert len(ours) == 3, f"not exactly one job per work: {run.slurm.jobs()}"

    def pending_message() -> str | None:
        status = json.loads(run.ctl("status", "--json").stdout)
        work = next(w for w in status["works"] if w["name"] == queued["work"])
        return work["message"] if work["message"] and queued["reason"] in work["message"] else None

    message = wait_until(pending_message, TIMEOUT_S, 0.2, what="the work's message to carry Slurm's reason")
    assert f"job {queued['engine_id']}" in message
    table = run.ctl("agents").stdout
    assert f"queued ({queued['reason']})" in table and f"slurm {queued['engine_id']}" in table, table
    assert run.ctl("stop").returncode == 0
    assert run.app is not None and run.app.wait(TIMEOUT_S).exit_code == 0, run.output()


def test_an_idle_agent_is_released_after_the_idle_timeout(run: Run) -> None:
    """Once its work was stopped (its process exited), the agent holds nothing; after --agent-idle-timeout its job
    is cancelled and the request shows released with the reason."""
    run.start("--agent-idle-timeout", "2", stop="works")
    released = run.wait_request("the idle agent to be released", lambda rs: rs and rs[0]["state"] == "released")
    assert "idle" in released[0]["reason"], released
    job_id = released[0]["engine_id"]
    wait_until(lambda: run.slurm.jobs()[job_id][0] in ("CANCELLED", "COMPLETED"), TIMEOUT_S, 0.2,
               what=f"job {job_id} cancelled: {run.slurm.jobs()}")
    assert run.ctl("stop").returncode == 0


def test_a_job_cancelled_under_a_running_work_hands_it_to_its_restart_policy(run: Run) -> None:
    """scancel of the job running a work (RestartPolicy.on_failure): the request is lost, the work restarts on
    the agent of a new job, and the app completes."""
    app = run.start(hold_s=8, restarts=1)
    first = run.wait_request("the first request to join", lambda rs: rs and rs[0]["state"] == "joined")[0]
    wait_until(lambda: started(app), TIMEOUT_S, 0.1, what="the work to start")
    run.slurm.run("scancel", first["engine_id"])
    run.wait_request("the cancelled request to be lost and a new one made",
                     lambda rs: any(r["request_id"] == first["request_id"] and r["state"] == "lost" for r in rs)
                     and len(rs) == 2)
    assert app.wait(TIMEOUT_S).exit_code == 0, run.output()
    jobs = [facts["job"] for facts in started(app)]
    assert len(jobs) == 2 and jobs[0] == first["engine_id"] and jobs[1] != jobs[0], jobs


def test_a_restarted_control_plane_finds_its_jobs_and_releases_those_no_longer_needed(
    run: Run, slurm: SlurmCluster
) -> None:
    """With the nodes busy, the work's job waits; after a SIGKILL of the control plane, the resumed run finds that
    job again (no second submission); after another SIGKILL, a --fresh run cancels it."""
    blocker = slurm.run("sbatch", "--parsable", "--nodes=2", "--gres=gpu:2", f"--output={slurm.root}/blocker-%j.out",
                        "--wrap", "sleep 300").stdout.strip()
    run.start(stop=0)
    (queued,) = run.wait_request("the work's job to queue", lambda rs: rs and rs[0]["state"] == "queued")
    assert run.app is not None
    run.app.kill_all()
    resumed = run.start(stop=0)
    (found,) = run.wait_request("the resumed run to show the same request",
                                lambda rs: rs and rs[0]["request_id"] == queued["request_id"])
    assert found["engine_id"] == queued["engine_id"]
    ours = [i for i, j in slurm.jobs(active_only=True).items() if j[2].startswith("lightning-agent-")]
    assert ours == [queued["engine_id"]], f"the resumed run submitted again: {slurm.jobs()}"
    resumed.kill_all()
    run.start("--fresh", stop=0)
    wait_until(lambda: slurm.jobs()[queued["engine_id"]][0] == "CANCELLED", TIMEOUT_S, 0.2,
               what=f"the fresh run to cancel the previous run's job: {slurm.jobs()}")
    slurm.run("scancel", blocker)
