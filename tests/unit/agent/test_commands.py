"""Tests for agent.runner.commands: the control plane's commands applied once each, in order."""

from __future__ import annotations

from lightning_ctl.agent.runner.commands import CommandSequencer
from lightning_ctl.sdk._events import RunCall, UpdateVars


def call(seq: int) -> RunCall:
    return RunCall("root.w", 1, f"h{seq}", [], {}, command_seq=seq)


def update(seq: int) -> UpdateVars:
    return UpdateVars("root.w", 1, {"knob": seq}, command_seq=seq)


def test_a_command_delivered_again_is_dropped():
    """A call sent again after a reconnection (or a restart of the control plane) runs once."""
    sequencer = CommandSequencer()
    assert sequencer.accept(call(1)) == [call(1)]
    assert sequencer.accept(call(1)) == []


def test_a_command_ahead_of_a_gap_waits_for_it():
    """Call 3 routed before update 2 was sent again: 3 waits, then 2 and 3 apply in order."""
    sequencer = CommandSequencer()
    sequencer.accept(call(1))
    assert sequencer.accept(call(3)) == []
    assert sequencer.accept(update(2)) == [update(2), call(3)]
    assert sequencer.accept(call(3)) == [] and sequencer.applied_seq == 3


def test_unnumbered_commands_apply_at_once():
    """Seq 0 (an unnumbered command) is applied as it comes."""
    assert CommandSequencer().accept(call(0)) == [call(0)]
