"""The fork server's orphan rule, driven directly: no processes, no sleeps."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

from lightning_ctl.agent.runner.orphans import OrphanRule, OrphanSettings, agent_running


def rule(timeout_s: float = 10.0, grace_s: float = 2.0) -> OrphanRule:
    return OrphanRule(OrphanSettings(timeout_s=timeout_s, stop_grace_s=grace_s))


class TestOrphanRule:
    def test_nothing_happens_while_the_agent_runs(self) -> None:
        """An agent present: no decision, however long."""
        r = rule()
        assert [r.decide(t, True) for t in (0.0, 100.0, 1000.0)] == [None, None, None]

    def test_stop_after_the_timeout_then_kill_after_the_grace(self) -> None:
        """Gone: orphaned at once, stop at the timeout, kill after the grace, then nothing more."""
        r = rule(timeout_s=10.0, grace_s=2.0)
        assert r.decide(0.0, False) == "orphaned"
        assert r.decide(9.9, False) is None
        assert r.decide(10.0, False) == "stop"
        assert r.decide(11.0, False) is None
        assert r.decide(12.0, False) == "kill"
        assert r.decide(50.0, False) is None

    def test_an_agent_coming_back_resets_the_timeout(self) -> None:
        """Adopted by a new agent: the timeout starts again from the next time it is gone."""
        r = rule(timeout_s=10.0)
        r.decide(0.0, False)
        assert r.decide(8.0, True) == "adopted"
        assert r.decide(15.0, False) == "orphaned"
        assert r.decide(24.0, False) is None
        assert r.decide(25.0, False) == "stop"

    def test_an_agent_coming_back_too_late_does_not_undo_a_stop(self) -> None:
        """Once the works are being stopped, they are stopped."""
        r = rule(timeout_s=1.0, grace_s=5.0)
        r.decide(0.0, False)
        assert r.decide(1.0, False) == "stop"
        assert r.decide(2.0, True) is None
        assert r.decide(6.0, True) == "kill"


class TestAgentRunning:
    def test_a_live_process_with_its_start_time(self, tmp_path: Path) -> None:
        """The pid file of a running process (this one) names a running agent."""
        me = psutil.Process()
        (tmp_path / "agent.pid").write_text(f"{me.pid} {me.create_time()}\n")
        assert agent_running(str(tmp_path / "agent.pid"))

    def test_a_reused_pid_missing_or_garbled_file_is_no_agent(self, tmp_path: Path) -> None:
        """Another start time (a reused pid), no file, or a bad one: no agent."""
        (tmp_path / "reused").write_text(f"{os.getpid()} 12345.0\n")
        (tmp_path / "bad").write_text("not a pid\n")
        for name in ("reused", "missing", "bad"):
            assert not agent_running(str(tmp_path / name))
