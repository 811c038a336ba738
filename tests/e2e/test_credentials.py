"""End-to-end: the three credentials and what each may do, with real control planes and real agents.

The operator's token operates the app; a join token registers an agent once, which then keeps its own credential
(in its state dir, across its restarts and the control plane's); ``lightning-ctl agents revoke`` shuts an agent
out; under mutual TLS an agent credential works only with the certificate it joined with; work processes hold
none of them (only the app's API key); a local agent registers only with its own app.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from tests.e2e import reported
from tests.helpers import free_port
from tests.helpers.agents import AgentProcess, Cluster, ControlPlane
from tests.helpers.certs import TestCerts, make_certs
from tests.helpers.processes import LIGHTNING_CTL

APPS = Path(__file__).resolve().parent / "apps_multi"
AGENT_ARGS = ("--gpus", "none", "--cpus", "4")
TIMEOUT_S = 30.0


def ctl(cluster: Cluster, cp: ControlPlane, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    """``lightning-ctl ARGS`` against ``cp`` with the operator's token (or ``token``)."""
    env = cluster.env()
    return subprocess.run([LIGHTNING_CTL, *args, "--address", cp.loopback_address, "--token", token or cluster.token],
                          env=env, capture_output=True, text=True, timeout=60)


def issue(cluster: Cluster, cp: ControlPlane, *args: str) -> str:
    """A join token from ``lightning-ctl agents join-token ARGS`` (what its stdout holds, alone)."""
    done = ctl(cluster, cp, "agents", "join-token", *args)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("lctl-join.") and "\n" not in token, done.stdout
    return token


def connections(cp: ControlPlane, name: str) -> int:
    """How many times ``name`` registered with ``cp``."""
    return len([line for line in cp.lines_with("agent_connected") if f"name={name} " in line + " "])


def credential_file(agent: AgentProcess) -> Path:
    """Where ``agent`` keeps its credential."""
    return agent.state_dir / agent.name / "credential"


@pytest.mark.e2e
def test_agent_joins_once_then_uses_its_own_credential(cluster: Cluster) -> None:
    """A one-time join token registers one agent, which keeps its credential (0600) and registers with it after a
    restart without any token; a second agent with the same token is refused (exit 4); the agent's credential is
    no operator's token (the CLI is refused, exit 4)."""
    cp = cluster.control_plane(APPS / "never_placed.py", join_token=None)
    cp.wait_for_line("WAITING")
    token = issue(cluster, cp, "--uses", "1", "--ttl", "10m")
    first = cluster.agent("first", *AGENT_ARGS, token=token)
    cluster.wait_until(lambda: connections(cp, "first") == 1, "the first agent to register")
    kept = credential_file(first)
    # The control plane logs the registration as it sends the welcome; the agent keeps the credential on receipt.
    cluster.wait_until(kept.exists, "the agent to keep the credential its welcome carried")
    assert kept.read_text().startswith("lctl-agent.") and stat.S_IMODE(kept.stat().st_mode) == 0o600
    second = cluster.agent("second", *AGENT_ARGS, token=token, may_exit=True)
    assert second.wait_exit(20) == 4, second.output()
    assert "was already used" in " ".join(second.lines_with("registration_refused")), second.output()
    first.signal(signal.SIGTERM)
    first.wait_exit(20)
    again = cluster.agent("first", *AGENT_ARGS, token=None)
    cluster.wait_until(lambda: connections(cp, "first") == 2, "the agent to register again with its credential")
    assert again.proc.poll() is None and len(cp.lines_with("agent_joined")) == 1, cp.output()
    refused = ctl(cluster, cp, "status", token=kept.read_text().strip())
    assert refused.returncode == 4 and "an agent credential only serves its agent's stream" in refused.stderr


@pytest.mark.e2e
def test_revoked_agent_is_shut_out_for_good(cluster: Cluster) -> None:
    """`lightning-ctl agents revoke NAME` ends the agent's stream; the agent exits 4 saying it was revoked, is no
    longer listed, and cannot come back, not even with a join token."""
    cp = cluster.control_plane(APPS / "never_placed.py")
    cp.wait_for_line("WAITING")
    agent = cluster.agent("doomed", *AGENT_ARGS, may_exit=True)
    cluster.wait_until(lambda: connections(cp, "doomed") == 1, "the agent to register")
    done = ctl(cluster, cp, "agents", "revoke", "doomed")
    assert done.returncode == 0 and "revoked agent doomed" in done.stderr, done.stderr
    assert agent.wait_exit(20) == 4, agent.output()
    assert "was revoked" in " ".join(agent.lines_with("registration_refused")), agent.output()
    listed = json.loads(ctl(cluster, cp, "agents", "--json").stdout)
    assert [a["name"] for a in listed] == []
    back = cluster.agent("doomed", *AGENT_ARGS, may_exit=True)  # its credential, and the join token in its env
    assert back.wait_exit(20) == 4, back.output()
    assert "cannot join again" in " ".join(back.lines_with("registration_refused")), back.output()
    unknown = ctl(cluster, cp, "agents", "revoke", "nobody")
    assert unknown.returncode == 2 and "no agent is named 'nobody'" in unknown.stderr


@pytest.mark.e2e
def test_credentials_survive_a_control_plane_restart(cluster: Cluster) -> None:
    """After a SIGKILL of the control plane, the resumed one still knows the agent that joined with a one-time
    token: the agent re-attaches with its own credential, no new join."""
    cp = cluster.control_plane(APPS / "never_placed.py", join_token=None)
    cp.wait_for_line("WAITING")
    agent = cluster.agent("steady", *AGENT_ARGS, token=issue(cluster, cp))
    cluster.wait_until(lambda: connections(cp, "steady") == 1, "the agent to register")
    # Killed once the agent holds its credential: a welcome still in flight dies with the control plane, and the
    # one-time token with it.
    cluster.wait_until(credential_file(agent).exists, "the agent to keep the credential its welcome carried")
    cp.proc.send_signal(signal.SIGKILL)
    cp.wait_exit(20)
    resumed = cluster.control_plane(APPS / "never_placed.py", "--port", str(cp.port), join_token=None)
    cluster.wait_until(lambda: connections(resumed, "steady") == 1, "the agent to re-attach", timeout_s=TIMEOUT_S)
    assert resumed.lines_with("agent_joined") == [] and agent.proc.poll() is None, cluster.output()


@pytest.mark.e2e
def test_works_keep_their_api_key_across_a_control_plane_restart(cluster: Cluster, tmp_path: Path) -> None:
    """A work that outlives a SIGKILL of the control plane still gets into the app's API once the resumed control
    plane serves it again (the works' key is kept, as a digest, with the app's credentials): never a 401."""
    probe = tmp_path / "api-statuses"
    http_port = str(free_port())
    args = ("--http-port", http_port, "--env", f"API_PROBE_FILE={probe}")
    cp = cluster.control_plane(APPS / "calls_api_forever.py", *args)
    cluster.agent("steady", *AGENT_ARGS)
    statuses = lambda: probe.read_text().split() if probe.exists() else []  # noqa: E731
    cluster.wait_until(lambda: "200" in statuses(), "the work to read the state", timeout_s=TIMEOUT_S)
    cp.proc.send_signal(signal.SIGKILL)
    cp.wait_exit(20)
    cluster.wait_until(lambda: statuses()[-1] == "down", "the work to find the API gone")
    seen = len(statuses())
    cluster.control_plane(APPS / "calls_api_forever.py", "--port", str(cp.port), *args)
    cluster.wait_until(lambda: [s for s in statuses()[seen:] if s != "down"], "the work to reach the API again",
                       timeout_s=TIMEOUT_S)
    assert set(statuses()[seen:]) <= {"down", "200"}, statuses()[seen:]


@pytest.mark.e2e
@pytest.mark.parametrize("where", ["local", "remote"])
def test_work_processes_hold_only_their_api_key(cluster: Cluster, where: str) -> None:
    """With the operator's token and a join token in the environment of lightning-ctl (and of the remote agent),
    no work process sees either, by name or by value; its one credential is the app's API key, which came with its
    launch (its agent and fork server never held it) and which the gRPC services refuse."""
    secrets = {"LIGHTNING_CTL_TOKEN": cluster.token, "LIGHTNING_CTL_JOIN_TOKEN": cluster.join_token}
    if where == "local":
        cp = cluster.control_plane(APPS / "env_credentials.py", env=secrets, local_agent=True)
    else:
        cp = cluster.control_plane(APPS / "env_credentials.py", env=secrets)
        cluster.agent("remote", *AGENT_ARGS, env={"LIGHTNING_CTL_TOKEN": cluster.token})
    run = cluster.wait_app(TIMEOUT_S * 2, cp)
    assert run.exit_code == 0, cluster.output()
    env = reported(run.stdout, "ENV")
    leaked = sorted(name for name, value in env.items()
                    if "TOKEN" in name or cluster.token in value or cluster.join_token in value)
    assert leaked == [], leaked
    login, _, key = env["LIGHTNING_CTL_HTTP_CREDENTIAL"].partition(":")
    assert login == "work" and key.startswith("lctl-key."), env["LIGHTNING_CTL_HTTP_CREDENTIAL"]
    agents = reported(run.stdout, "AGENTS")
    assert agents and not any(holds for _, holds in agents), agents
    exit_code, stderr = reported(run.stdout, "GRPC")
    assert exit_code == 4 and "this key does not open the gRPC services" in stderr, stderr


@pytest.fixture
def certs(tmp_path: Path) -> TestCerts:
    """A throwaway CA with a server certificate and two client certificates."""
    return make_certs(tmp_path / "pki")


@pytest.mark.e2e
def test_mutual_tls_binds_the_agent_credential_to_its_certificate(cluster: Cluster, certs: TestCerts) -> None:
    """An agent that joined over mutual TLS with one certificate is refused (exit 4) when its credential comes
    with another certificate, even one the CA signed."""
    tls = ("--tls-cert", str(certs.server_cert), "--tls-key", str(certs.server_key), "--tls-ca", str(certs.ca))
    cp = cluster.control_plane(APPS / "never_placed.py", *tls)
    cp.wait_for_line("WAITING")
    address = f"127.0.0.1:{cp.port}"
    client = ("--tls-ca", str(certs.ca), "--tls-cert", str(certs.client_cert), "--tls-key", str(certs.client_key))
    agent = cluster.agent("bound", *AGENT_ARGS, *client, control_plane=address)
    cluster.wait_until(lambda: connections(cp, "bound") == 1, "the agent to join over mutual TLS")
    agent.signal(signal.SIGTERM)
    agent.wait_exit(20)
    other = ("--tls-ca", str(certs.ca), "--tls-cert", str(certs.other_client_cert),
             "--tls-key", str(certs.other_client_key))
    thief = cluster.agent("bound", *AGENT_ARGS, *other, control_plane=address, token=None, may_exit=True)
    assert thief.wait_exit(20) == 4, thief.output()
    assert "bound to the client certificate it joined with" in thief.stderr, thief.output()
    assert connections(cp, "bound") == 1


@pytest.mark.e2e
def test_local_agent_registers_only_with_its_own_app(cluster: Cluster, tmp_path: Path) -> None:
    """When another app takes the port of an app whose control plane died, the dead app's local agent (still
    running for its works) is refused there and waits for its own app; the new app lists only its own agent."""
    port = free_port()
    first = cluster.control_plane(APPS / "never_placed.py", "--port", str(port), local_agent=True)
    first.wait_for_line("WAITING")
    first.proc.send_signal(signal.SIGKILL)
    first.wait_exit(20)
    other_app = tmp_path / "other" / "other_app.py"
    other_app.parent.mkdir()
    other_app.write_text((APPS / "never_placed.py").read_text())
    (other_app.parent / "multi_common.py").write_text((APPS / "multi_common.py").read_text())
    second = cluster.control_plane(other_app, "--port", str(port), local_agent=True)
    second.wait_for_line("WAITING")
    cluster.wait_until(lambda: [line for line in second.lines_with("credential_refused")
                                if "unknown agent credential" in line or "unknown join token" in line],
                       "the first app's local agent to be refused", timeout_s=TIMEOUT_S)
    first.wait_for("refused_by_control_plane", timeout_s=TIMEOUT_S)
    listed = json.loads(ctl(cluster, second, "agents", "--json").stdout)
    assert [a["name"] for a in listed] == ["local"] and len(listed) == 1, listed
    assert _alive(_local_agent_pid(cluster, APPS / "never_placed.py")), "the first app's local agent gave up"


def _local_agent_pid(cluster: Cluster, app: Path) -> int:
    """The pid the local agent of ``app`` recorded in its home (under the cluster's HOME)."""
    digest = hashlib.sha256(os.path.abspath(app).encode()).hexdigest()[:16]
    pid_file = cluster.root / "home" / ".lightning-ctl" / "apps" / digest / "local" / "agent.pid"
    return int(pid_file.read_text().split()[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
