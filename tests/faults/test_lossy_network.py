"""An agent behind a lossy link (the proxy delays 20 % of chunks by 3-100 ms and cuts the connection now and then):
every work event is applied once and in order, every call runs once, every output line is shown once."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.helpers.fault_cluster import FaultCluster
from tests.helpers.logs import session_log
from tests.helpers.processes import create_times, wait_alive
from tests.helpers.proxy import TcpProxy
from tests.helpers.streams import (
    AGENT_ARGS,
    FAST,
    STREAMS,
    assert_lines_once,
    assert_streams_complete,
    final_lengths,
    knobs,
    reported,
)

CALLS = 40
"""K: blocking calls of the Counted work (cache_calls=False), one after the other."""
MIN_CUTS = 3
MAX_CUTS = 6
CUT_PROB = 0.006
"""Per chunk (either direction): a cut every ~170 chunks, i.e. every second or two at this app's traffic."""
LOSSY_S = 12.0
"""The longest the streams go on waiting for MIN_CUTS cuts."""
_EXEC = re.compile(r"^root\.counted \| EXEC (\d+) (\d+)$")


@pytest.mark.fault
def test_lossy_link_applies_every_event_and_runs_every_call_once(faults: FaultCluster, tmp_path: Path) -> None:
    """3 streams and 40 blocking calls through 20 % delays of 3-100 ms and 3-6 cuts: lists exactly [1..n], 40
    executions and 40 EXEC lines, each STEP line once, no restart."""
    stop_file = tmp_path / "stop-streaming"
    cp = faults.control_plane(STREAMS, *FAST, *knobs(50, works=3, calls=CALLS, stop_file=stop_file))
    with TcpProxy(cp.port, seed=11, delay_prob=0.2, delay_s=(0.003, 0.1), cut_prob=CUT_PROB,
                  max_cuts=MAX_CUTS) as proxy:
        faults.agent("a", *AGENT_ARGS, control_plane=proxy.address)
        pids = faults.work_pids_of(cp, 3)
        times = create_times(pids)
        deadline = time.monotonic() + LOSSY_S
        while proxy.stats.cuts < MIN_CUTS and time.monotonic() < deadline:
            time.sleep(0.1)
        wait_alive(pids, times)
        stop_file.touch()
        run = faults.wait_app(40)
        stats = proxy.stats
    print(f"lossy link: {stats.cuts} cuts, {stats.delays} delayed chunks ({stats.delayed_s:.1f} s), "
          f"{stats.chunks} chunks, {stats.connections} connections")
    everything = session_log(cp, *faults.agents)
    assert run.exit_code == 0, f"exit {run.exit_code}\n{faults.output()[-6000:]}"
    assert stats.cuts >= MIN_CUTS, f"only {stats.cuts} cuts happened: the link was not lossy enough to judge"
    assert stats.delays > 0
    final = reported(cp.stdout_lines, "FINAL")[0]
    assert_streams_complete(final, 50, 3, everything)
    assert final["pids"] == {name: [pid] for name, pid in pids.items()}, final["pids"]
    assert not cp.lines_with("work_restarted") and not cp.lines_with("works_lost"), everything
    assert final["calls_succeeded"] == CALLS, final
    assert final["executions"] == CALLS, (
        f"the Counted work ran {final['executions']} times for {CALLS} calls\n{everything}")
    executed = [int(m.group(1)) for line in cp.stdout_lines if (m := _EXEC.match(line))]
    twice = sorted({e for e in executed if executed.count(e) > 1})
    assert sorted(executed) == list(range(1, CALLS + 1)), (
        f"EXEC lines shown: {len(executed)} for {CALLS} calls; missing "
        f"{sorted(set(range(1, CALLS + 1)) - set(executed))}, twice {twice}\n{everything}")
    assert_lines_once(cp.stdout_lines, final_lengths(final), everything)
