"""End-to-end: operating a running app from another terminal: ``lightning-ctl status``, ``state``, ``logs``,
``agents`` and ``stop`` against a real ``lightning-ctl run``, found through its run file (each test module gets
its own HOME), plus the errors when no app runs or the token is wrong."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e import APPS, TAG_VAR, kill_tagged
from tests.helpers import free_port, wait_until
from tests.helpers.processes import LIGHTNING_CTL, AppProcess, alive

TIMEOUT_S = 20.0
CLI_TIMEOUT_S = 20.0


def ctl(home: Path, *args: str, timeout_s: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    """Run ``lightning-ctl *args`` with HOME=home (so it finds that home's running app) and no token in env."""
    env = {**os.environ, "HOME": str(home)}
    env.pop("LIGHTNING_CTL_TOKEN", None)
    env.pop("LIGHTNING_CTL_ADDRESS", None)
    return subprocess.run([LIGHTNING_CTL, *args], env=env, capture_output=True, text=True, timeout=timeout_s)


class Follower:
    """A long-running ``lightning-ctl`` command (``logs -f``, ``state --watch``) whose stdout lines are collected."""

    def __init__(self, home: Path, *args: str) -> None:
        env = {**os.environ, "HOME": str(home)}
        env.pop("LIGHTNING_CTL_TOKEN", None)
        self.proc = subprocess.Popen(
            [LIGHTNING_CTL, *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


def start_app(home: Path, tag: str) -> AppProcess:
    """``lightning-ctl run operate.py`` with HOME=home, once its works have printed and ticked."""
    process = AppProcess(APPS / "operate.py", "--stop-grace", "2", env={"HOME": str(home), TAG_VAR: tag})
    process.wait_for_line("operate app ready", TIMEOUT_S)
    process.wait_for_line("root.sub.w | done printing", TIMEOUT_S)  # stdout and stderr are relayed
    process.wait_for_line("root.sub.w | to stderr", TIMEOUT_S)  # independently: wait for both
    return process



@pytest.fixture(scope="module")
def app_home(tmp_path_factory) -> Iterator[Path]:
    """One running operate.py app shared by the read-only tests; HOME is its own folder; killed at the end."""
    home = tmp_path_factory.mktemp("home")
    tag = uuid.uuid4().hex
    process = start_app(home, tag)
    try:
        yield home
    finally:
        process.kill_all()
        kill_tagged(tag)


@pytest.mark.e2e
def test_status_shows_each_work_and_the_agent(app_home: Path) -> None:
    """`status` prints the app, a row per work (status, agent, pid, start, restarts) and the local agent."""
    result = ctl(app_home, "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["APP", "STAGE", "PID"] and lines[1].split()[1] == "running"
    header = next(line for line in lines if line.startswith("WORK "))
    assert header.split() == [
        "WORK",
        "STATUS",
        "REASON",
        "AGENT",
        "PID",
        "STARTED",
        "RESTARTS",
        "GPUS",
        "MESSAGE",
    ]
    rows = {line.split()[0]: line.split() for line in lines if line.startswith("root.")}
    assert rows["root.w"][1:4] == ["running", "-", "local"] and rows["root.w"][4].isdigit()
    assert rows["root.w"][6] == "0"
    assert rows["root.sub.w"][1] == "succeeded"
    agent_header = next(line for line in lines if line.startswith("AGENT "))
    assert agent_header.split()[:4] == ["AGENT", "HOST", "STATE", "CPUS"]
    assert any(line.startswith("local ") and "connected" in line for line in lines)


@pytest.mark.e2e
def test_status_json_has_every_field(app_home: Path) -> None:
    """`status --json`: the app's stage and pid, per work its status, agent, pid, start time, restarts, GPUs."""
    result = ctl(app_home, "status", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["app"]["stage"] == "running" and document["app"]["app_path"].endswith("operate.py")
    works = {w["name"]: w for w in document["works"]}
    ticker = works["root.w"]
    assert ticker["status"] == "running" and ticker["agent"] == "local" and ticker["restarts"] == 0
    assert isinstance(ticker["pid"], int) and ticker["pid"] > 0 and ticker["gpus"] == []
    assert ticker["started_at"] <= time.time() and ticker["started_at_iso"].endswith("Z")
    assert works["root.sub.w"]["status"] == "succeeded"
    (agent,) = document["agents"]
    assert agent["name"] == "local" and agent["state"] == "connected" and agent["cpus"]["total"] > 0
    assert sorted(agent["works"]) == ["root.sub.w", "root.w"] and agent["last_heartbeat_age_s"] < 10
    # The pid is the work's real process.
    assert alive({ticker["pid"]})


@pytest.mark.e2e
def test_status_limited_to_one_work_by_suffix(app_home: Path) -> None:
    """`status sub.w` shows only root.sub.w."""
    result = ctl(app_home, "status", "sub.w", "--json")
    assert result.returncode == 0, result.stderr
    assert [w["name"] for w in json.loads(result.stdout)["works"]] == ["root.sub.w"]


@pytest.mark.e2e
def test_state_pretty_and_full(app_home: Path) -> None:
    """`state` is the pretty_state view (public attributes only); `--full` adds calls and statuses."""
    pretty = ctl(app_home, "state")
    assert pretty.returncode == 0, pretty.stderr
    document = json.loads(pretty.stdout)
    assert document["works"]["w"]["vars"]["ticks"] >= 1
    assert document["flows"]["sub"]["works"]["w"]["vars"]["printed"] == 50
    assert document["app_state"] == {"stage": "running"} and "calls" not in pretty.stdout
    full = ctl(app_home, "state", "--full", "--json")
    assert full.returncode == 0, full.stderr
    assert len(full.stdout.strip().splitlines()) == 1
    assert "calls" in json.loads(full.stdout)["works"]["w"]


@pytest.mark.e2e
def test_state_watch_prints_changes(app_home: Path) -> None:
    """`state --watch` prints the state, then a line per change (the ticker's count going up)."""
    watcher = Follower(app_home, "state", "--watch")
    try:
        wait_until(
            lambda: any("root.w.ticks:" in line and " -> " in line for line in watcher.lines),
            TIMEOUT_S,
            what=f"a change of root.w.ticks; got {watcher.lines[-5:]}",
        )
    finally:
        watcher.close()
    assert watcher.lines[0] == "{"
    change = next(line for line in watcher.lines if "root.w.ticks:" in line)
    before, after = change.split("root.w.ticks: ", 1)[1].split(" -> ")
    assert int(after) > int(before)


@pytest.mark.e2e
def test_state_watch_json_is_one_document_per_change(app_home: Path) -> None:
    """`state --watch --json` writes one JSON object per change, each with the time and the state."""
    watcher = Follower(app_home, "state", "--watch", "--json")
    try:
        wait_until(lambda: len(watcher.lines) >= 2, TIMEOUT_S, what="two states")
    finally:
        watcher.close()
    first, second = (json.loads(line) for line in watcher.lines[:2])
    assert second["time"] > first["time"] and first["state"] != second["state"]


@pytest.mark.e2e
def test_logs_of_a_work_named_by_suffix(app_home: Path) -> None:
    """`logs sub.w` prints that work's lines, stdout and stderr, prefixed like the console; bytes shown safely."""
    result = ctl(app_home, "logs", "sub.w")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("root.sub.w | ") for line in lines)
    texts = [line[len("root.sub.w | ") :] for line in lines]
    assert [t for t in texts if t.startswith("line ")] == [f"line {i}" for i in range(1, 51)]
    assert "to stderr" in texts and "done printing" in texts
    binary = next(t for t in texts if t.startswith("bytes "))
    assert "\ufffd" in binary  # invalid UTF-8 replaced
    assert "\\x1b]0;title\\x07" in binary and "\x07" not in binary  # a title-setting sequence shown escaped
    assert "\x1b[31mred\x1b[0m" in binary  # colours kept
    long = next(t for t in texts if t.startswith("xxx"))
    assert long.endswith("…[line cut]") and len(long.encode()) <= 16 * 1024 + 20


@pytest.mark.e2e
def test_logs_tail(app_home: Path) -> None:
    """`logs sub.w --tail 3` prints only its last three lines."""
    everything = ctl(app_home, "logs", "root.sub.w").stdout.splitlines()
    result = ctl(app_home, "logs", "root.sub.w", "--tail", "3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == everything[-3:]


@pytest.mark.e2e
def test_logs_json_and_since(app_home: Path) -> None:
    """`logs --json` writes one object per line with the stream; `--since 1h` keeps everything recent."""
    result = ctl(app_home, "logs", "sub.w", "--since", "1h", "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {line["stream"] for line in lines} == {"stdout", "stderr"}
    first = next(line for line in lines if line["stream"] == "stdout")
    assert first["work"] == "root.sub.w" and first["text"] == "line 1" and first["time"] <= time.time()


@pytest.mark.e2e
def test_logs_follow_sees_new_lines(app_home: Path) -> None:
    """`logs w -f` (root.w by full name) keeps printing the ticker's new lines as they come."""
    follower = Follower(app_home, "logs", "root.w", "-f", "--tail", "1")
    try:
        wait_until(
            lambda: len(follower.lines) >= 3, TIMEOUT_S, what=f"three tick lines; got {follower.lines}"
        )
    finally:
        follower.close()
    ticks = [int(line.rsplit(" ", 1)[1]) for line in follower.lines[:3]]
    assert all(line.startswith("root.w | tick ") for line in follower.lines[:3])
    assert ticks == sorted(ticks) and ticks[2] > ticks[0]


@pytest.mark.e2e
def test_ambiguous_work_name_is_a_usage_error(app_home: Path) -> None:
    """`logs w` matches root.w and root.sub.w: exit 2 with one line naming both."""
    result = ctl(app_home, "logs", "w")
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "ambiguous" in line and "root.w" in line and "root.sub.w" in line


@pytest.mark.e2e
def test_unknown_work_name_is_a_usage_error(app_home: Path) -> None:
    """A WORK naming no work exits 2 and lists the works."""
    result = ctl(app_home, "logs", "nope")
    assert result.returncode == 2
    assert "no work is named 'nope'" in result.stderr and "root.sub.w" in result.stderr


@pytest.mark.e2e
def test_agents_lists_the_local_agent(app_home: Path) -> None:
    """`agents` shows the local agent, connected, with its resources; `--json` for scripts."""
    result = ctl(app_home, "agents")
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == [
        "AGENT",
        "HOST",
        "STATE",
        "CPUS",
        "MEMORY",
        "GPUS",
        "WORKS",
        "HEARTBEAT",
        "LABELS",
    ]
    assert row.split()[0] == "local" and row.split()[2] == "connected"
    (agent,) = json.loads(ctl(app_home, "agents", "--json").stdout)
    assert agent["is_local"] and agent["memory_bytes"]["total"] > 0


@pytest.mark.e2e
def test_explicit_address_and_token_reach_the_app(app_home: Path, tmp_path: Path) -> None:
    """--address and --token from anywhere (here a HOME without run file) reach the app."""
    run = json.loads((app_home / ".lightning-ctl" / "run.json").read_text())
    result = ctl(tmp_path, "status", "--address", run["address"], "--token", run["token"], "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["app"]["pid"] == run["pid"]
    before = ctl(tmp_path, "--address", run["address"], "--token", run["token"], "agents")
    assert before.returncode == 0, before.stderr


@pytest.mark.e2e
def test_shell_completion_offers_the_running_apps_work_names(app_home: Path) -> None:
    """Click's completion (`_LIGHTNING_CTL_COMPLETE=bash_complete`) completes WORK from the running app."""
    env = {
        **os.environ,
        "HOME": str(app_home),
        "_LIGHTNING_CTL_COMPLETE": "bash_complete",
        "COMP_WORDS": "lightning-ctl logs root.s",
        "COMP_CWORD": "2",
    }
    result = subprocess.run([LIGHTNING_CTL], env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert result.stdout.splitlines() == ["plain,root.sub.w"]
    assert result.stderr == ""


@pytest.mark.e2e
def test_wrong_token_exits_4(app_home: Path) -> None:
    """A wrong token is refused: exit 4 and one line saying so."""
    result = ctl(app_home, "status", "--token", "not-the-token")
    assert result.returncode == 4
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "refused the token" in result.stderr


@pytest.mark.e2e
def test_agent_keeps_rotated_log_files(app_home: Path) -> None:
    """The agent writes each work's output to <agent home>/logs/<work>/<attempt>.log as well."""
    found = list(app_home.glob(".lightning-ctl/apps/*/local/logs/root.sub.w/1.log"))
    assert found, sorted(str(p) for p in app_home.rglob("*.log"))
    text = found[0].read_text()
    assert " stdout line 1\n" in text and " stderr to stderr\n" in text


@pytest.mark.e2e
def test_no_app_running_exits_3(tmp_path: Path) -> None:
    """Without a running app (and with an address where nothing listens): exit 3 with one line."""
    result = ctl(tmp_path, "status")
    assert result.returncode == 3
    assert result.stderr.strip() == (
        "Error: no app is running on this machine: start one with "
        "`lightning-ctl run APP_FILE`, or pass --address and --token"
    )
    nothing = ctl(tmp_path, "logs", "-f", "--address", f"127.0.0.1:{free_port()}", "--token", "x")
    assert nothing.returncode == 3
    assert nothing.stderr.strip().startswith("Error: cannot reach the control plane at 127.0.0.1:")


@pytest.mark.e2e
def test_stop_ends_the_app_with_exit_status_0(tmp_path: Path) -> None:
    """`stop` ends the app like flow.stop(): works stopped, `run` exits 0, the run file goes, nothing survives."""
    tag = uuid.uuid4().hex
    process = start_app(tmp_path, tag)
    follower = Follower(tmp_path, "logs", "-f", "root.w")
    try:
        pids = process.record_pids()
        wait_until(lambda: follower.lines, TIMEOUT_S, what="the follower's first line")
        result = ctl(tmp_path, "stop")
        assert result.returncode == 0, result.stderr
        assert result.stderr.strip() == "the app stopped"
        run = process.wait(TIMEOUT_S)
        assert run.exit_code == 0, run.stderr
        assert "stopped by lightning-ctl stop" in run.stderr
        assert not (tmp_path / ".lightning-ctl" / "run.json").exists()
        assert list((tmp_path / ".lightning-ctl" / "runs").iterdir()) == []
        wait_until(lambda: not alive(pids), 10.0, what="every process of the app to be gone")
        after = ctl(tmp_path, "status")
        assert after.returncode == 3
        # A follower's stream ends cleanly with the app.
        assert follower.proc.wait(timeout=TIMEOUT_S) == 0
        assert follower.proc.stderr is not None and follower.proc.stderr.read().strip() == "the app has ended"
    finally:
        follower.close()
        process.kill_all()
        kill_tagged(tag)


@pytest.mark.e2e
def test_tls_app_is_reached_locally_and_with_a_client_certificate(tmp_path: Path) -> None:
    """An app serving mutual TLS: `status` on its machine needs no flags (the run file names the plain loopback
    listener); from elsewhere, --address with --tls-ca/--tls-cert/--tls-key reaches the TLS port."""
    from tests.helpers.certs import make_certs

    certs = make_certs(tmp_path / "pki")
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    tag = uuid.uuid4().hex
    process = AppProcess(
        APPS / "operate.py",
        "--stop-grace",
        "2",
        "--port",
        str(port),
        "--tls-cert",
        str(certs.server_cert),
        "--tls-key",
        str(certs.server_key),
        "--tls-ca",
        str(certs.ca),
        env={"HOME": str(home), TAG_VAR: tag},
    )
    try:
        process.wait_for_line("operate app ready", TIMEOUT_S)
        local = ctl(home, "status", "--json")
        assert local.returncode == 0, local.stderr
        token = json.loads((home / ".lightning-ctl" / "run.json").read_text())["token"]
        remote = ctl(
            tmp_path,
            "--tls-ca",
            str(certs.ca),
            "--tls-cert",
            str(certs.client_cert),
            "--tls-key",
            str(certs.client_key),
            "agents",
            "--address",
            f"127.0.0.1:{port}",
            "--token",
            token,
        )
        assert remote.returncode == 0, remote.stderr
        assert remote.stdout.splitlines()[1].startswith("local ")
        plain = ctl(tmp_path, "status", "--address", f"127.0.0.1:{port}", "--token", token, "--timeout", "3")
        assert plain.returncode == 3, plain.stderr
    finally:
        process.kill_all()
        kill_tagged(tag)


@pytest.mark.e2e
def test_logs_after_the_app_ended_reads_the_local_agents_files(tmp_path: Path) -> None:
    """Once the app has ended, `logs` prints its works' output from the local agent's files (with WORK, --tail),
    says on stderr whose output it is, and names what is missing when nothing is kept."""
    home = tmp_path / "home"
    never = ctl(home, "logs")
    assert never.returncode == 3 and "none has run here" in never.stderr
    process = AppProcess(APPS / "counter.py", "--stop-grace", "2", env={"HOME": str(home)})
    try:
        assert process.wait(TIMEOUT_S).exit_code == 0
    finally:
        process.kill_all()
    every = ctl(home, "logs")
    assert every.returncode == 0, every.stderr
    assert every.stdout.splitlines() == [f"root.counter | count is {i}" for i in range(1, 6)]
    assert "counter.py is not running" in every.stderr
    assert ctl(home, "logs", "counter", "--tail", "2").stdout.splitlines() == [
        "root.counter | count is 4", "root.counter | count is 5"]
    assert ctl(home, "logs", "--app", str(APPS / "counter.py"), "--json").stdout.count('"work": "root.counter"') == 5
    other = ctl(home, "logs", "--app", str(tmp_path / "other.py"))
    assert other.returncode == 3 and "other.py has not run on this machine" in other.stderr
    unknown = ctl(home, "logs", "nope")
    assert unknown.returncode == 2 and "no work is named 'nope'" in unknown.stderr
