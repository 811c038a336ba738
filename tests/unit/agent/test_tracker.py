"""Tests for agent.runner.tracker.VarsTracker: which attribute values a work process sends to the flow."""

from __future__ import annotations

import json

import pytest

from lightning_ctl.agent.runner import tracker as tracker_module
from lightning_ctl.agent.runner.tracker import VarsTracker
from lightning_ctl.sdk import LightningWork
from lightning_ctl.sdk.errors import AttributeTooLargeError


class Job(LightningWork):
    def __init__(self) -> None:
        super().__init__(start_with_flow=False)
        self.count = 0
        self.items: list[int] = []
        self.config = {"lr": 0.1}

    def run(self) -> None:
        pass


class Recorder:
    """Collects what the tracker sends, decoded."""

    def __init__(self) -> None:
        self.raw: list[dict[str, str]] = []

    def __call__(self, values: dict[str, str]) -> None:
        self.raw.append(values)

    @property
    def sent(self) -> list[dict]:
        return [{name: json.loads(text) for name, text in values.items()} for values in self.raw]


@pytest.fixture
def work() -> Job:
    return Job()


@pytest.fixture
def sent() -> Recorder:
    return Recorder()


@pytest.fixture
def tracker(work, sent) -> VarsTracker:
    """A tracker that already agrees with the flow on every attribute (as after the launch's vars)."""
    t = VarsTracker(work, sent)
    t.absorb({name: work.__dict__[name] for name in work._state_names() if name != "_cloud_compute"})
    return t


class TestNote:
    def test_new_value_is_sent(self, tracker, sent):
        """An assignment of a new value is sent as {name: value}."""
        tracker.note("count", 1)
        assert sent.sent == [{"count": 1}]

    def test_same_value_is_not_sent(self, tracker, sent):
        """Assigning the value the flow already has sends nothing."""
        tracker.note("count", 0)
        tracker.note("count", 2)
        tracker.note("count", 2)
        assert sent.sent == [{"count": 2}]

    def test_sent_value_is_whole_json(self, tracker, sent):
        """Each attribute's value is sent whole, as JSON."""
        tracker.note("config", {"lr": 0.2, "layers": [1, 2]})
        assert sent.sent == [{"config": {"lr": 0.2, "layers": [1, 2]}}]

    def test_nan_is_sent(self, tracker, sent):
        """NaN values travel (state allows them)."""
        tracker.note("count", float("nan"))
        assert sent.raw[0]["count"] == "NaN"


class TestAbsorb:
    def test_applies_values_to_the_work(self, tracker, work):
        """absorb() sets the flow's values on the work."""
        tracker.absorb({"count": 5, "items": [1]})
        assert work.count == 5 and work.items == [1]

    def test_does_not_echo(self, tracker, sent, work):
        """Absorbed values are not sent back, by note() or by sweep()."""
        tracker.absorb({"count": 5})
        tracker.note("count", 5)
        tracker.sweep()
        assert sent.sent == []

    def test_later_change_after_absorb_is_sent(self, tracker, sent):
        """A work change after an absorbed value is sent."""
        tracker.absorb({"count": 5})
        tracker.note("count", 6)
        assert sent.sent == [{"count": 6}]


class TestSweep:
    def test_catches_in_place_mutations(self, tracker, sent, work):
        """sweep() sends attributes mutated in place (list.append, dict[k] = v)."""
        work.items.append(1)
        work.config["lr"] = 0.5
        tracker.sweep()
        assert sent.sent == [{"items": [1], "config": {"lr": 0.5}}]

    def test_sends_nothing_without_changes(self, tracker, sent):
        """A sweep with nothing changed sends nothing."""
        tracker.sweep()
        assert sent.raw == []

    def test_each_mutation_is_sent_once(self, tracker, sent, work):
        """A mutation caught by one sweep is not sent again by the next."""
        work.items.append(1)
        tracker.sweep()
        tracker.sweep()
        work.items.append(2)
        tracker.sweep()
        assert sent.sent == [{"items": [1]}, {"items": [1, 2]}]

    def test_note_after_sweep_is_not_duplicated(self, tracker, sent, work):
        """A value already sent by a sweep is not sent again by note()."""
        work.items.append(1)
        tracker.sweep()
        tracker.note("items", [1])
        assert sent.sent == [{"items": [1]}]

    def test_skips_values_that_are_not_json(self, tracker, sent, work):
        """A value that can't be encoded is skipped rather than crashing the sweep."""
        work.__dict__["items"] = {1, 2}
        work.count = 3  # tracked by note() in a real process; here the sweep catches it
        tracker.sweep()
        assert sent.sent == [{"count": 3}]

    def test_cloud_compute_is_never_sent(self, sent, work):
        """_cloud_compute is never swept (the work can't change its placement)."""
        fresh = VarsTracker(work, sent)
        fresh.sweep()
        assert "_cloud_compute" not in sent.sent[0]


def agreed(work: Job, sent: Recorder, limit: int = 2**20) -> VarsTracker:
    """A tracker with limit ``limit`` that agrees with the flow on every attribute (as after the launch)."""
    t = VarsTracker(work, sent, max_value_bytes=limit)
    t.absorb({name: work.__dict__[name] for name in work._state_names() if name != "_cloud_compute"})
    return t


class TestLimit:
    def test_assignment_past_the_limit_raises_and_keeps_the_old_value(self, work, sent):
        """An assignment whose JSON passes the limit raises AttributeTooLargeError naming the attribute and the
        limit, sends nothing, and leaves the attribute as the flow has it."""
        tracker = agreed(work, sent, 10)
        tracker.absorb({"config": {"lr": 0.1}})
        work.__dict__["config"] = {"lr": "x" * 20}  # as __setattr__ does before reporting the change
        with pytest.raises(AttributeTooLargeError, match=r"config: a value of 30 bytes \(as JSON\), over the limit "
                                                          r"of 10 bytes") as caught:
            tracker.note("config", work.__dict__["config"])
        assert (caught.value.attribute, caught.value.limit) == ("config", 10)
        assert work.config == {"lr": 0.1} and sent.raw == []

    def test_growth_past_the_limit_waits_for_a_strict_sweep(self, work, sent):
        """A container grown past the limit in place is not sent; a periodic sweep skips it, a strict one (the end
        of a call) raises naming it."""
        tracker = agreed(work, sent, 30)
        tracker.absorb({"items": []})
        work.items.extend(range(20))
        tracker.sweep()
        assert sent.raw == []
        with pytest.raises(AttributeTooLargeError, match="items"):
            tracker.sweep(strict=True)

    def test_changes_are_split_to_fit_the_limit(self, work, sent):
        """Several changed attributes go in deltas whose values together stay within the limit."""
        tracker = agreed(work, sent, 12)
        tracker.absorb({"count": 0, "config": {}, "items": []})
        work.__dict__.update(count=1234567, config={"a": 1}, items=[1, 2])
        tracker.sweep()
        assert all(sum(len(v) for v in values.values()) <= 12 for values in sent.raw) and len(sent.raw) > 1
        assert {k: v for values in sent.sent for k, v in values.items()} == {"count": 1234567, "config": {"a": 1},
                                                                             "items": [1, 2]}


class TestCost:
    def test_unchanged_large_string_is_not_encoded_again(self, work, sent, monkeypatch):
        """A sweep does not encode again an immutable value it already has (a 50 MB string costs nothing)."""
        tracker = agreed(work, sent)
        tracker.absorb({"config": "x" * 1000})
        encoded: list[object] = []
        monkeypatch.setattr(tracker_module, "to_json", lambda value: encoded.append(value) or json.dumps(value))
        for _ in range(5):
            tracker.sweep()
        assert "x" * 1000 not in encoded and encoded  # the containers are looked at, the string never

    def test_costly_container_is_looked_at_less_often(self, work, sent, monkeypatch):
        """A container whose encoding is costly is skipped by the next periodic sweeps; a strict sweep looks."""
        tracker = agreed(work, sent)
        tracker.absorb({"items": [1]})
        monkeypatch.setattr(tracker_module, "_CHEAP_ENCODE_S", -1.0)  # every encoding counts as costly
        monkeypatch.setattr(tracker_module, "_SWEEP_SHARE", 1e-12)  # and pauses it for far longer than the test
        tracker.sweep()
        work.items.append(2)
        tracker.sweep()
        assert sent.sent == []
        tracker.sweep(strict=True)
        assert sent.sent == [{"items": [1, 2]}]
