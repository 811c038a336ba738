"""Tests for protos.codec: every event body and command survives protobuf, and bad input is named."""

from __future__ import annotations

import math

import pytest

from lightning_ctl.protos import codec
from lightning_ctl.protos.codec import CodecError, command_from_pb, command_to_pb, event_from_pb, event_to_pb
from lightning_ctl.protos.lightning.v1 import agent_pb2, events_pb2
from lightning_ctl.sdk._events import (
    LaunchWork,
    LinesLogged,
    ProcessExited,
    ProcessStarted,
    RunCall,
    StatusChanged,
    StopWork,
    UpdateVars,
    VarsChanged,
    WorkCrashed,
    WorkEvent,
)
from lightning_ctl.sdk._status import make_status

BODIES = [
    VarsChanged({"count": 3, "nested": {"a": [1, 2.5, None, True, "x"]}, "_port": 8080}),
    VarsChanged({}),
    StatusChanged("0123456789abcdef", make_status("running")),
    StatusChanged("start", make_status("started")),
    StatusChanged("abc", make_status("failed", message="Traceback\nValueError: x", reason="user_exception")),
    StatusChanged("abc", make_status("stopped", reason="sigterm_signal_handler")),
    LinesLogged("stdout", ("hello", "world")),
    LinesLogged("stderr", ("oops",)),
    LinesLogged("stdout", ()),
    ProcessStarted(4242),
    ProcessExited(4242, 0),
    ProcessExited(4242, 3),
    ProcessExited(4242, -9, 9),
    WorkCrashed("Traceback (most recent call last):\n  File \"app.py\", line 1\nRuntimeError: boom\n"),
]

COMMANDS = [
    LaunchWork(work_name="root.job", attempt=1, app_path="/apps/app.py", vars={"count": 0, "_host": "::1"}),
    LaunchWork(
        work_name="root.d.key",
        attempt=7,
        app_path="/apps/app.py",
        vars={"x": [1, {"y": None}]},
        env={"A": "1", "B": "two"},
        start_action=True,
        stop_grace_s=2.5,
        work_class="app:Trainer",
        init_args={"args": [1], "kwargs": {"parallel": True}},
        gpu_indices=(0, 3),
    ),
    LaunchWork(work_name="root.w", attempt=2, app_path="a.py", vars={}, init_args={"args": [], "kwargs": {}}),
    RunCall("root.job", 1, "0123456789abcdef", [1, "two", [3]], {"k": {"v": 1}}),
    RunCall("root.job", 1, "fedcba9876543210", [], {}, {"knob": 5}),
    UpdateVars("root.job", 3, {"knob": 7, "items": [1, 2]}),
    StopWork("root.job", 2, "stopped by the flow", 30.0),
]


def _ids(values: list) -> list[str]:
    return [f"{type(v).__name__}-{i}" for i, v in enumerate(values)]


class TestEvents:
    @pytest.mark.parametrize("body", BODIES, ids=_ids(BODIES))
    def test_round_trip(self, body):
        """event_from_pb(event_to_pb(e)) == e for every event body, also through the wire bytes."""
        event = WorkEvent("root.job", 2, 17, body)
        pb = event_to_pb(event)
        assert isinstance(pb, events_pb2.WorkEvent)
        assert event_from_pb(pb) == event
        assert event_from_pb(events_pb2.WorkEvent.FromString(pb.SerializeToString())) == event

    def test_nan_value_survives(self):
        """A NaN attribute value survives the trip (state allows NaN)."""
        event = WorkEvent("root.job", 1, 1, VarsChanged({"loss": float("nan")}))
        assert math.isnan(event_from_pb(event_to_pb(event)).body.values["loss"])

    def test_invalid_vars_json_names_the_field(self):
        """Invalid JSON in a delta raises CodecError naming delta.vars_json."""
        pb = events_pb2.WorkEvent(work_name="root.job", delta=events_pb2.VarsDelta(vars_json="{bad"))
        with pytest.raises(CodecError, match="delta.vars_json"):
            event_from_pb(pb)

    def test_vars_json_must_be_an_object(self):
        """A delta whose JSON is not an object raises CodecError naming the field."""
        pb = events_pb2.WorkEvent(work_name="root.job", delta=events_pb2.VarsDelta(vars_json="[1]"))
        with pytest.raises(CodecError, match="delta.vars_json"):
            event_from_pb(pb)

    def test_unknown_stage_names_the_field(self):
        """A status whose stage is not a WorkStageStatus value raises CodecError naming status.stage."""
        pb = events_pb2.WorkEvent(
            work_name="root.job", status=events_pb2.StatusChange(call_hash="h", stage="exploded", timestamp=1)
        )
        with pytest.raises(CodecError, match=r"status\.stage"):
            event_from_pb(pb)

    def test_missing_work_name_names_the_field(self):
        """An event without a work name raises CodecError naming work_name."""
        pb = events_pb2.WorkEvent(started=events_pb2.WorkStarted(pid=1))
        with pytest.raises(CodecError, match="work_name"):
            event_from_pb(pb)

    def test_missing_kind(self):
        """An event without a body raises CodecError."""
        with pytest.raises(CodecError, match="kind"):
            event_from_pb(events_pb2.WorkEvent(work_name="root.job", attempt=1, seq=1))

    def test_codec_error_is_a_value_error(self):
        """CodecError is a ValueError."""
        assert issubclass(CodecError, ValueError)


class TestCommands:
    @pytest.mark.parametrize("command", COMMANDS, ids=_ids(COMMANDS))
    def test_round_trip(self, command):
        """command_from_pb(command_to_pb(c)) == c for every command type, also through the wire bytes."""
        pb = command_to_pb(command)
        assert isinstance(pb, agent_pb2.Command)
        assert command_from_pb(pb) == command
        assert command_from_pb(agent_pb2.Command.FromString(pb.SerializeToString())) == command

    def test_launch_without_init_args_round_trips_as_none(self):
        """init_args=None (a work that can't be rebuilt) comes back as None."""
        launch = LaunchWork(work_name="root.job", attempt=1, app_path="a.py", vars={}, init_args=None)
        assert command_from_pb(command_to_pb(launch)).init_args is None

    @pytest.mark.parametrize(
        ("pb", "field"),
        [
            (agent_pb2.Command(call=events_pb2.RunCall(work_name="w", args_json="[1,")), "call.args_json"),
            (agent_pb2.Command(call=events_pb2.RunCall(kwargs_json="{x}")), "call.kwargs_json"),
            (agent_pb2.Command(call=events_pb2.RunCall(work_name="w", vars_json="nope")), "call.vars_json"),
            (agent_pb2.Command(update=events_pb2.UpdateVars(vars_json="{")), "update.vars_json"),
            (agent_pb2.Command(launch=agent_pb2.LaunchWork(vars_json="{")), "launch.vars_json"),
            (
                agent_pb2.Command(launch=agent_pb2.LaunchWork(work_name="w", init_args_json="{")),
                "launch.init_args_json",
            ),
        ],
        ids=lambda v: v if isinstance(v, str) else "command",
    )
    def test_invalid_json_names_the_field(self, pb, field):
        """Invalid JSON in a command raises CodecError naming the field."""
        with pytest.raises(CodecError, match=field.replace(".", r"\.")):
            command_from_pb(pb)

    @pytest.mark.parametrize(
        ("pb", "field"),
        [
            (agent_pb2.Command(call=events_pb2.RunCall(args_json='{"a": 1}')), "call.args_json"),
            (agent_pb2.Command(call=events_pb2.RunCall(kwargs_json="[1]")), "call.kwargs_json"),
            (agent_pb2.Command(update=events_pb2.UpdateVars(vars_json="3")), "update.vars_json"),
        ],
        ids=lambda v: v if isinstance(v, str) else "command",
    )
    def test_json_of_the_wrong_shape_names_the_field(self, pb, field):
        """Arguments must decode to a list, keyword arguments and vars to an object; otherwise CodecError."""
        with pytest.raises(CodecError, match=field.replace(".", r"\.")):
            command_from_pb(pb)

    def test_missing_kind(self):
        """A command without a kind raises CodecError."""
        with pytest.raises(CodecError, match="kind"):
            command_from_pb(agent_pb2.Command())


class TestValues:
    def test_dumps_is_compact_json(self):
        """dumps() writes compact JSON."""
        assert codec.dumps({"a": [1, 2]}) == '{"a":[1,2]}'

    def test_dumps_allows_nan(self):
        """dumps() accepts NaN, as state does."""
        assert codec.dumps(float("nan")) == "NaN"


def test_agent_usage_round_trips() -> None:
    """A heartbeat carries the machine's CPU, memory and per-GPU use unchanged."""
    from lightning_ctl.sdk._events import AgentUsage, GpuUsage

    usage = AgentUsage(37.5, 2**33, (GpuUsage(0, 91.0, 2**30, 2**34), GpuUsage(1, 0.0, 0, 2**34)))
    assert codec.usage_from_pb(codec.usage_to_pb(usage)) == usage
