"""End-to-end across real network boundaries: the control plane in one network namespace, the agent in another,
joined by a veth pair (as root; skipped when network namespaces cannot be created)."""

from __future__ import annotations

import contextlib
import random
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.e2e import reported
from tests.helpers.agents import Cluster

APPS = Path(__file__).resolve().parent / "apps_multi"
TIMEOUT_S = 20.0


@dataclass(frozen=True)
class NamespacePair:
    """Two network namespaces joined by a veth pair, each end with an address in one /30."""

    control_plane_ns: str
    agent_ns: str
    control_plane_ip: str
    agent_ip: str

    def run_in(self, namespace: str) -> list[str]:
        """The command prefix that runs a program inside ``namespace``."""
        return ["ip", "netns", "exec", namespace]


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15)


def _checked(*args: str) -> None:
    done = _ip(*args)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")


@contextlib.contextmanager
def namespace_pair() -> Iterator[NamespacePair]:
    """Create the namespaces (unique names, a random 10.x.y.0/30); delete them on the way out, whatever happens."""
    suffix = secrets.token_hex(3)
    cp_ns, agent_ns = f"lctl-cp-{suffix}", f"lctl-ag-{suffix}"
    cp_dev, agent_dev = f"lc{suffix}a", f"lc{suffix}b"  # interface names: at most 15 characters
    x, y = random.randint(0, 255), random.randint(0, 63) * 4
    cp_ip, agent_ip = f"10.{x}.{y}.1", f"10.{x}.{y}.2"
    created: list[str] = []
    try:
        first = _ip("netns", "add", cp_ns)
        if first.returncode != 0:
            pytest.skip(f"cannot create network namespaces (ip netns add: {first.stderr.strip()}); needs root")
        created.append(cp_ns)
        _checked("netns", "add", agent_ns)
        created.append(agent_ns)
        _checked("link", "add", cp_dev, "type", "veth", "peer", "name", agent_dev)
        _checked("link", "set", cp_dev, "netns", cp_ns)
        _checked("link", "set", agent_dev, "netns", agent_ns)
        for namespace, device, address in ((cp_ns, cp_dev, cp_ip), (agent_ns, agent_dev, agent_ip)):
            _checked("-n", namespace, "addr", "add", f"{address}/30", "dev", device)
            _checked("-n", namespace, "link", "set", device, "up")
            _checked("-n", namespace, "link", "set", "lo", "up")
        yield NamespacePair(cp_ns, agent_ns, cp_ip, agent_ip)
    finally:
        _ip("link", "del", cp_dev)  # only exists here if moving it into its namespace failed
        for namespace in created:
            _ip("netns", "del", namespace)


@pytest.mark.e2e
def test_agent_in_another_network_namespace_runs_a_bundled_work(cluster: Cluster) -> None:
    """An agent in its own network namespace reaches the control plane over a veth pair, gets the app's bundle and
    runs a work from a helper module; the flow sees every update up to the final value."""
    with namespace_pair() as net:
        try:
            cp = cluster.control_plane(APPS / "netns_app.py", "--host", net.control_plane_ip,
                                       wrapper=net.run_in(net.control_plane_ns))
            assert cp.address.startswith(f"{net.control_plane_ip}:"), cp.address
            agent = cluster.agent("netns-agent", "--gpus", "none", "--cpus", "16",
                                  control_plane=f"{net.control_plane_ip}:{cp.port}",
                                  wrapper=net.run_in(net.agent_ns))
            run = cluster.wait_app(TIMEOUT_S)
            assert run.exit_code == 0, cluster.output()
            counted = reported(run.stdout, "COUNTED")
            assert counted["final"] == counted["expected"] == 7, counted
            assert counted["seen"][-1] == 7 and counted["seen"] == sorted(counted["seen"]), counted
            assert agent.owns_bundle_folder(counted["cwd"]), f"the work ran from {counted['cwd']}"
            assert (Path(counted["cwd"]) / "netns_work.py").is_file()
            assert [line for line in cp.lines_with("agent_connected") if "name=netns-agent" in line], cp.output()
        finally:
            cluster.close()
