"""End-to-end: who may join a control plane. Token checks, TLS, mutual TLS, the warning for a plain listener on
every interface, and the stored token's permissions."""

from __future__ import annotations

import signal
import stat
from pathlib import Path

import pytest

from tests.e2e import reported
from tests.helpers.agents import AgentProcess, Cluster, ControlPlane
from tests.helpers.certs import TestCerts, make_certs

APPS = Path(__file__).resolve().parent / "apps_multi"
TIMEOUT_S = 20.0
AGENT_ARGS = ("--gpus", "none", "--cpus", "16")
GRPC_LOGS = {"GRPC_VERBOSITY": "INFO"}
"""gRPC core logs each failed TLS handshake on the control plane's stderr: the proof a refused agent tried."""


@pytest.fixture
def certs(tmp_path: Path) -> TestCerts:
    """A throwaway CA, a server certificate for 127.0.0.1 and client certificates."""
    return make_certs(tmp_path / "pki")


def ran_on(agent: AgentProcess, facts: dict) -> bool:  # type: ignore[type-arg]
    """Whether the work that reported ``facts`` ran from a code bundle unpacked by ``agent``."""
    return agent.owns_bundle_folder(facts["cwd"])


def connected_names(cp: ControlPlane) -> list[str]:
    """The names of the agents the control plane logged as connected, in order."""
    return [part[len("name="):] for line in cp.lines_with("agent_connected") for part in line.split()
            if part.startswith("name=")]


def handshake_failures(cp: ControlPlane, reason: str = "") -> int:
    """How many failed TLS handshakes (with ``reason`` in the line) the control plane's gRPC core logged."""
    return sum(1 for line in cp.lines_with("Handshake failed") if reason in line)


@pytest.mark.e2e
@pytest.mark.parametrize("token", ["not-the-join-token", "OPERATOR"], ids=["wrong-token", "operator-token"])
def test_agent_without_a_valid_join_token_is_refused(cluster: Cluster, token: str) -> None:
    """An agent with a wrong join token, or with the operator's token, exits with code 4 saying why, and no work
    runs (the operator's token is not an agent's key)."""
    cp = cluster.control_plane(APPS / "never_placed.py")
    cp.wait_for_line("WAITING")
    token = cluster.token if token == "OPERATOR" else token
    intruder = cluster.agent("intruder", *AGENT_ARGS, token=token, may_exit=True)
    assert intruder.wait_exit(15) == 4, intruder.output()
    refusal = " ".join(intruder.lines_with("registration_refused"))
    expected = "unknown token" if token != cluster.token else "the operator's token cannot act as an agent"
    assert expected in refusal, intruder.output()
    assert connected_names(cp) == [], cp.output()
    cp.signal(signal.SIGINT)
    run = cp.wait(15)
    assert run.exit_code == 130, cluster.output()
    assert "WORK RAN" not in run.stdout and "WORK_STARTED" not in run.stdout, run.stdout
    assert intruder.bundles() == [], "a refused agent was sent the app's code"


@pytest.mark.e2e
def test_agent_without_any_credential_is_a_usage_error(cluster: Cluster) -> None:
    """An agent that never joined and is given no join token exits with code 2, saying how to get one."""
    cluster.control_plane(APPS / "never_placed.py").wait_for_line("WAITING")
    agent = cluster.agent("nothing", *AGENT_ARGS, token=None, may_exit=True)
    assert agent.wait_exit(15) == 2, agent.output()
    assert "--join-token" in agent.stderr and "lightning-ctl agents join-token" in agent.stderr, agent.output()


@pytest.mark.e2e
def test_tls_agent_with_the_ca_runs_a_work_and_a_plain_agent_does_not_get_in(cluster: Cluster,
                                                                            certs: TestCerts) -> None:
    """With --tls-cert/--tls-key, an agent trusting the CA runs the work; a plain-text agent never joins."""
    cp = cluster.control_plane(APPS / "one_work.py", "--tls-cert", str(certs.server_cert),
                               "--tls-key", str(certs.server_key), env=GRPC_LOGS)
    plain = cluster.agent("plain-agent", *AGENT_ARGS, may_exit=True)
    cluster.wait_until(lambda: handshake_failures(cp) >= 2, "the plain agent's handshakes to fail")
    assert connected_names(cp) == [] and not cp.lines_with("FACTS", "stdout")
    good = cluster.agent("tls-agent", *AGENT_ARGS, "--tls-ca", str(certs.ca))
    run = cluster.wait_app(TIMEOUT_S)
    assert run.exit_code == 0, cluster.output()
    assert ran_on(good, reported(run.stdout, "DONE"))
    assert connected_names(cp) == ["tls-agent"], cp.output()
    assert plain.bundles() == []


@pytest.mark.e2e
def test_mutual_tls_requires_a_client_certificate_signed_by_the_ca(cluster: Cluster, certs: TestCerts) -> None:
    """With --tls-ca, agents without a client certificate, or with one from another CA, are refused; an agent
    with a certificate signed by the CA runs the work."""
    cp = cluster.control_plane(APPS / "one_work.py", "--tls-cert", str(certs.server_cert),
                               "--tls-key", str(certs.server_key), "--tls-ca", str(certs.ca), env=GRPC_LOGS)
    no_cert = cluster.agent("no-cert-agent", *AGENT_ARGS, "--tls-ca", str(certs.ca), may_exit=True)
    cluster.wait_until(lambda: handshake_failures(cp, "PEER_DID_NOT_RETURN_A_CERTIFICATE") >= 2,
                       "the handshakes of the agent without a certificate to fail")
    rogue = cluster.agent("rogue-agent", *AGENT_ARGS, "--tls-ca", str(certs.ca), "--tls-cert",
                          str(certs.rogue_client_cert), "--tls-key", str(certs.rogue_client_key), may_exit=True)
    cluster.wait_until(lambda: handshake_failures(cp, "CERTIFICATE_VERIFY_FAILED") >= 2,
                       "the handshakes of the agent with another CA's certificate to fail")
    assert connected_names(cp) == [] and not cp.lines_with("FACTS", "stdout"), cp.output()
    good = cluster.agent("mtls-agent", *AGENT_ARGS, "--tls-ca", str(certs.ca), "--tls-cert",
                         str(certs.client_cert), "--tls-key", str(certs.client_key))
    run = cluster.wait_app(TIMEOUT_S)
    assert run.exit_code == 0, cluster.output()
    assert ran_on(good, reported(run.stdout, "DONE"))
    assert connected_names(cp) == ["mtls-agent"], cp.output()
    assert no_cert.bundles() == [] and rogue.bundles() == []


@pytest.mark.e2e
def test_listening_on_every_interface_without_tls_warns(cluster: Cluster, certs: TestCerts) -> None:
    """--host 0.0.0.0 without TLS logs the warning listening_without_tls; with TLS it does not."""
    plain = cluster.control_plane(APPS / "never_placed.py", "--host", "0.0.0.0")
    try:
        warning = plain.wait_for("listening_without_tls")[0]
    finally:
        plain.kill_all()
    assert "warning" in warning and "0.0.0.0:" in warning, warning
    secure = cluster.control_plane(APPS / "never_placed.py", "--host", "0.0.0.0", "--tls-cert",
                                   str(certs.server_cert), "--tls-key", str(certs.server_key))
    try:
        secure.wait_for("agents_join_with")  # logged right after the place of the warning
    finally:
        secure.kill_all()
    assert not secure.lines_with("listening_without_tls"), secure.output()


@pytest.mark.e2e
def test_token_file_is_created_owner_only(cluster: Cluster, tmp_path: Path) -> None:
    """lightning-ctl without --token creates ~/.lightning-ctl/token with mode 0600 (in a temporary HOME)."""
    home = tmp_path / "home"
    home.mkdir()
    cp = cluster.control_plane(APPS / "stops_at_once.py", token=None, env={"HOME": str(home)})
    run = cluster.wait_app(TIMEOUT_S, cp)
    assert run.exit_code == 0, cluster.output()
    token_file = home / ".lightning-ctl" / "token"
    assert token_file.is_file(), f"no token file in {home}"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600, oct(token_file.stat().st_mode)
    assert stat.S_IMODE(token_file.parent.stat().st_mode) & 0o077 == 0, oct(token_file.parent.stat().st_mode)
    assert len(token_file.read_text().strip()) >= 32
    leftovers = [p.name for p in token_file.parent.iterdir() if p.name.startswith(".token")]
    assert leftovers == [], f"temporary token files were left behind: {leftovers}"
    real = Path.home() / ".lightning-ctl" / "token"
    if real.exists():
        assert stat.S_IMODE(real.stat().st_mode) == 0o600, f"{real}: {oct(real.stat().st_mode)}"
