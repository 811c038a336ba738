"""Liveness, driven directly with explicit times: no clock, no sockets, no sleeps."""

from __future__ import annotations

from lightning_ctl.controlplane.agents.liveness import FIRST_MESSAGE_GRACE_S, Liveness


def silent_ids(liveness: Liveness, now: float) -> list[str]:
    return [s.agent_id for s in liveness.silent(now)]


class TestSilence:
    def test_an_agent_silent_past_three_periods_is_silent(self) -> None:
        """Heard at once after the welcome (a fast link): silent after 3 periods, not before."""
        live = Liveness(heartbeat_interval_s=1.0)
        live.connected("a", 0.0)
        live.heard("a", 0.0)
        assert silent_ids(live, 2.9) == []
        assert silent_ids(live, 3.1) == ["a"]

    def test_any_message_counts_as_a_sign_of_life(self) -> None:
        """Each message pushes the limit: an agent that keeps talking is never silent."""
        live = Liveness(heartbeat_interval_s=1.0)
        live.connected("a", 0.0)
        for t in range(0, 100, 2):
            live.heard("a", float(t))
            assert silent_ids(live, t + 2.5) == []

    def test_a_slow_link_widens_the_limit_by_its_round_trip(self) -> None:
        """Round trip 2 s with a 0.5 s period: the first message comes 2 s after the welcome and later gaps of
        2.5 s are tolerated (1.5 s + 2 s); 4 s of silence is not."""
        live = Liveness(heartbeat_interval_s=0.5)
        live.connected("a", 10.0)
        assert silent_ids(live, 11.9) == []  # waiting for the first message: not judged on the period
        live.heard("a", 12.0)
        assert live.limit_s("a") == 3.5
        live.heard("a", 14.5)
        assert silent_ids(live, 17.9) == []
        assert silent_ids(live, 18.1) == ["a"]

    def test_a_welcomed_agent_that_never_speaks_is_silent_after_the_grace(self) -> None:
        """No first message at all: silent once the first-message grace is over."""
        live = Liveness(heartbeat_interval_s=0.5)
        live.connected("a", 0.0)
        assert silent_ids(live, FIRST_MESSAGE_GRACE_S - 1) == []
        assert silent_ids(live, FIRST_MESSAGE_GRACE_S + 1) == ["a"]


class TestDisconnections:
    def test_disconnected_since_and_back(self) -> None:
        """A disconnection is dated; reconnecting clears it; messages of unknown agents are ignored."""
        live = Liveness(heartbeat_interval_s=1.0)
        live.connected("a", 0.0)
        live.disconnected("a", 5.0)
        live.heard("a", 6.0)
        assert live.disconnected_since("a") == 5.0 and live.any_disconnected
        assert silent_ids(live, 100.0) == []
        live.connected("a", 7.0)
        assert live.disconnected_since("a") is None and not live.any_disconnected

    def test_majority_disconnected(self) -> None:
        """More than half of the known agents away: the majority rule holds; half is not a majority."""
        live = Liveness(heartbeat_interval_s=1.0)
        for agent in "abcd":
            live.connected(agent, 0.0)
        live.disconnected("a", 1.0)
        live.disconnected("b", 1.0)
        assert not live.majority_disconnected
        live.disconnected("c", 1.0)
        assert live.majority_disconnected
