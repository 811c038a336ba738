"""An agent behind a slow link: every chunk waits 1 s each way (so a round trip takes more than twice the 0.5 s
heartbeat interval) while messages keep arriving. The agent is never declared disconnected and the app ends."""

from __future__ import annotations

import pytest

from tests.helpers.fault_cluster import FaultCluster
from tests.helpers.proxy import TcpProxy
from tests.helpers.streams import AGENT_ARGS, STREAMS, knobs

ONE_WAY_DELAY_S = 1.0


@pytest.mark.fault
def test_a_slow_link_does_not_disconnect_an_agent_that_keeps_talking(faults: FaultCluster) -> None:
    """Heartbeats every 0.5 s, 1 s each way: no agent_disconnected, no restart, and the streams app finishes."""
    cp = faults.control_plane(STREAMS, "--heartbeat-interval", "0.5", "--agent-lost-grace", "600",
                              *knobs(20, works=2, step_s=0.05))
    with TcpProxy(cp.port, seed=3, delay_prob=1.0, delay_s=(ONE_WAY_DELAY_S, ONE_WAY_DELAY_S)) as proxy:
        faults.agent("a", *AGENT_ARGS, control_plane=proxy.address)
        run = faults.wait_app(90)
        delays = proxy.stats.delays
    assert delays > 0
    assert run.exit_code == 0, faults.output()[-6000:]
    dropped = [line for line in cp.lines_with("agent_disconnected") if "control plane is stopping" not in line]
    assert not dropped, faults.output()[-6000:]
