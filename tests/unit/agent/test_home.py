"""Tests for agent.home: one agent per home, so that two agents never share one identity; its records of works."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from lightning_ctl.agent.errors import AgentHomeInUseError
from lightning_ctl.agent.home import AgentHome, WorkRecord, claim_home
from lightning_ctl.sdk._events import LaunchWork


class TestClaim:
    def test_a_home_is_claimed_once(self, tmp_path):
        """A second claim of a held home fails; it names the holder's pid."""
        first = AgentHome(tmp_path / "gpu-box")
        assert first.claim()
        assert not AgentHome(tmp_path / "gpu-box").claim()
        assert first.holder_pid() == os.getpid()

    def test_a_home_is_free_again_once_its_holder_exited(self, tmp_path):
        """The claim dies with its process (a restarted agent gets its home and works back at once)."""
        code = ("import sys; from lightning_ctl.agent.home import AgentHome; "
                "sys.exit(0 if AgentHome(sys.argv[1]).claim() else 1)")
        subprocess.run([sys.executable, "-c", code, str(tmp_path / "gpu-box")], check=True)
        assert AgentHome(tmp_path / "gpu-box").claim()


class TestClaimHome:
    def test_agents_without_a_name_take_the_next_free_home(self, tmp_path):
        """Without --name: the hostname's home, then hostname-2, hostname-3 (each its own identity)."""
        homes = [claim_home(tmp_path, None, "box") for _ in range(3)]
        assert [home.name for home in homes] == ["box", "box-2", "box-3"]

    def test_an_explicit_name_in_use_is_refused_naming_the_flag(self, tmp_path):
        """With --name of a running agent: an error naming the name, the holder and --name."""
        claim_home(tmp_path, "trainer", "box")
        with pytest.raises(AgentHomeInUseError, match=rf"pid {os.getpid()}.*'trainer'.*--name"):
            claim_home(tmp_path, "trainer", "box")


class TestRecords:
    def test_records_keep_the_launch_but_never_the_works_api_key(self, tmp_path):
        """works.json brings a work's launch back after a restart of the agent, without its API key (the work's
        process holds it; no secret of a work goes to disk)."""
        launch = LaunchWork("root.w", 2, "/app.py", {"x": 1}, env={"K": "V"}, api_credential="work:lctl-key.a.secret")
        home = AgentHome(tmp_path / "box")
        home.save_records([WorkRecord(launch, pid=77)])
        assert "secret" not in (home.path / "works.json").read_text()
        [record] = home.load_records()
        assert record.launch == dataclasses.replace(launch, api_credential="") and record.pid == 77
