"""Tests for protos.codec: every event body and command survives protobuf, and bad input is named."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest

from lightning_ctl.protos import codec
from lightning_ctl.protos.codec import (
    CodecError,
    EventDecodeError,
    command_from_pb,
    command_to_pb,
    event_from_pb,
    event_to_pb,
)
from lightning_ctl.protos.lightning.v1 import agent_pb2, events_pb2
from lightning_ctl.sdk._agent_messages import (
    AgentUsage,
    EventRejected,
    GpuDevice,
    GpuUsage,
    OpenTunnel,
    Registration,
    RunnerHello,
    RunnerInit,
    Welcome,
)
from lightning_ctl.sdk._events import (
    EventsApplied,
    LaunchWork,
    LinesLogged,
    OutputShown,
    ProcessExited,
    ProcessStarted,
    RunCall,
    RunningWork,
    StatusChanged,
    StopWork,
    UpdateVars,
    VarsChanged,
    WorkCrashed,
    WorkEndpoint,
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
    ProcessExited(0, 1, reason="the agent could not start the work's process: [Errno 11] fork failed"),
    WorkCrashed("Traceback (most recent call last):\n  File \"app.py\", line 1\nRuntimeError: boom\n"),
    WorkEndpoint("10.0.0.5", 30001, "10.0.0.5"),
    WorkEndpoint("0.0.0.0", 30001, "10.0.0.5", url="http://10.0.0.5:30001", message=""),
    WorkEndpoint("h", 1, "h", message="not ready: GET /health on port 1 answers 503"),
    WorkEndpoint("", 0, "", error="port 80 is in use on this machine"),
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
    LaunchWork(work_name="root.s", attempt=1, app_path="a.py", vars={}, port=8080, readiness_path="/health"),
    LaunchWork(work_name="root.mn.ws.0", attempt=1, app_path="a.py", vars={}, rendezvous=True),
    RunCall("root.job", 1, "0123456789abcdef", [1, "two", [3]], {"k": {"v": 1}}),
    RunCall("root.job", 1, "fedcba9876543210", [], {}, {"knob": 5}),
    UpdateVars("root.job", 3, {"knob": 7, "items": [1, 2]}),
    StopWork("root.job", 2, "stopped by the flow", 30.0),
]


def _ids(values: list) -> list[str]:
    return [f"{type(v).__name__}-{i}" for i, v in enumerate(values)]


def _seq_for(body: object) -> int:
    """Events of the work process are numbered; those the agent observes (output, exit) carry 0."""
    return 0 if isinstance(body, (LinesLogged, ProcessExited, WorkEndpoint)) else 17


class TestEvents:
    @pytest.mark.parametrize("body", BODIES, ids=_ids(BODIES))
    def test_round_trip(self, body):
        """event_from_pb(event_to_pb(e)) == e for every event body, also through the wire bytes."""
        event = WorkEvent("root.job", 2, _seq_for(body), body)
        pb = event_to_pb(event)
        assert isinstance(pb, events_pb2.WorkEvent)
        assert event_from_pb(pb) == event
        assert event_from_pb(events_pb2.WorkEvent.FromString(pb.SerializeToString())) == event

    def test_nan_value_survives(self):
        """A NaN attribute value survives the trip (state allows NaN)."""
        event = WorkEvent("root.job", 1, 1, VarsChanged({"loss": float("nan")}))
        assert math.isnan(event_from_pb(event_to_pb(event)).body.values["loss"])

    def test_invalid_json_names_the_work_and_attribute(self):
        """Invalid JSON in a delta raises EventDecodeError naming the work, the attribute and the cause."""
        pb = events_pb2.WorkEvent(work_name="root.job", attempt=1, seq=3,
                                  delta=events_pb2.VarsDelta(values={"ok": "1", "bad": "{x"}))
        with pytest.raises(EventDecodeError, match=r"work root.job: attribute bad: its value is not valid JSON") as e:
            event_from_pb(pb)
        assert (e.value.work_name, e.value.attempt, e.value.seq) == ("root.job", 1, 3)

    def test_unknown_stage_names_the_field(self):
        """A status whose stage is not a WorkStageStatus value raises CodecError naming status.stage."""
        pb = events_pb2.WorkEvent(
            work_name="root.job", attempt=1, seq=1,
            status=events_pb2.StatusChange(call_hash="h", stage="exploded", timestamp=1),
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
        with pytest.raises(CodecError, match="no kind"):
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


class TestAgentMessages:
    REGISTRATION = Registration(
        agent_id="a-1", name="gpu-1", hostname="host", cpus=8.0, memory_bytes=2**34,
        gpus=(GpuDevice(0, "GPU-0", "A100", 2**35), GpuDevice(3)), labels={"zone": "a"},
        protocol_version=2, is_local=False, running=(RunningWork("root.w", 2, 77, (3,), 30001),),
        advertise_address="10.0.0.5", ports=(30000, 30999),
    )

    def test_registration_round_trip(self):
        """registration_from_pb(registration_to_pb(r)) == r, also through the wire bytes."""
        pb = codec.registration_to_pb(self.REGISTRATION)
        assert codec.registration_from_pb(agent_pb2.Register.FromString(pb.SerializeToString())) == self.REGISTRATION

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"agent_id": ""}, "register.agent_id: missing"),
            ({"agent_id": "a/b"}, "is not an agent id"),
            ({"cpus": -5.0}, "register.resources.cpus: must be a finite number >= 0, got -5"),
            ({"cpus": math.inf}, "register.resources.cpus"),
            ({"memory_bytes": -1}, "register.resources.memory_bytes"),
            ({"labels": {f"k{i}": "v" for i in range(20_000)}}, "20000 labels, over the limit of 256"),
            ({"gpus": (GpuDevice(1), GpuDevice(1))}, "an index appears twice"),
            ({"running": (RunningWork("root.w", 0, 1),)}, "register.running[root.w].attempt: must be >= 1"),
            ({"name": "bad\nname"}, "control characters"),
            ({"ports": (30999, 30000)}, "register.ports: 30999-30000 is not a range of ports"),
        ],
    )
    def test_bad_registration_names_the_field(self, change, field):
        """Each out-of-range or malformed registration field raises CodecError naming it."""
        pb = codec.registration_to_pb(dataclasses.replace(self.REGISTRATION, **change))
        with pytest.raises(CodecError, match=re.escape(field)):
            codec.registration_from_pb(pb)

    @pytest.mark.parametrize(
        "item",
        [
            Welcome("s1", 2.0, "lctl-agent.a.secret", 16 * 2**20, 2),
            EventsApplied("root.w", 2, 9),
            OutputShown("root.w", 2, 100, 20),
            EventRejected("root.w", 2, 9, "INVALID_ARGUMENT", "work root.w: attribute x: bad"),
            [RunCall("root.w", 1, "h", [1], {}), StopWork("root.w", 1, "r", 1.0)],
            [OpenTunnel("t-1", "root.server", 3)],
        ],
        ids=["welcome", "ack", "output-ack", "rejected", "commands", "tunnel"],
    )
    def test_control_message_round_trip(self, item):
        """Every kind of ControlMessage survives the trip."""
        pb = codec.control_message_to_pb(item)
        assert codec.control_message_from_pb(agent_pb2.ControlMessage.FromString(pb.SerializeToString())) == item

    def test_heartbeat_usage_round_trip(self):
        """A heartbeat carries the machine's CPU, memory and per-GPU use unchanged, also through the wire bytes."""
        usage = AgentUsage(37.5, 2**33, (GpuUsage(0, 91.0, 2**30, 2**34), GpuUsage(1, 0.0, 0, 2**34)))
        message = agent_pb2.AgentMessage.FromString(codec.heartbeat_message(usage).SerializeToString())
        assert codec.usage_from_pb(message.heartbeat) == usage

    @pytest.mark.parametrize(
        ("usage", "field"),
        [
            (AgentUsage(cpu_percent=math.nan), "heartbeat.cpu_percent"),
            (AgentUsage(memory_used_bytes=-1), "heartbeat.memory_used_bytes: must be >= 0"),
            (AgentUsage(gpus=(GpuUsage(2, utilization_percent=-3.0),)), "heartbeat.gpus[2].utilization_percent"),
            (AgentUsage(gpus=(GpuUsage(0, memory_total_bytes=-1),)), "heartbeat.gpus[0].memory_total_bytes"),
        ],
    )
    def test_bad_heartbeat_names_the_field(self, usage, field):
        """A heartbeat with a negative or non-finite figure raises CodecError naming it."""
        with pytest.raises(CodecError, match=re.escape(field)):
            codec.usage_from_pb(codec.usage_to_pb(usage))

    def test_events_relayed_as_bytes_read_as_work_events(self):
        """The agent's hand-built message of opaque event bytes is an AgentMessage of WorkEvents on the wire."""
        events = [event_to_pb(WorkEvent("root.w", 1, seq, VarsChanged({"x": "y" * seq}))) for seq in (1, 200)]
        raw = codec.agent_events_message([e.SerializeToString() for e in events])
        parsed = agent_pb2.AgentMessage.FromString(raw)
        assert parsed.WhichOneof("kind") == "events" and list(parsed.events.events) == events


class TestRunnerLink:
    def test_work_process_message_round_trip(self):
        """A work process's message (hello and opaque events) reads back the same."""
        hello = RunnerHello("root.w", 3, 99, initialized=True)
        hello_back, events, storage = codec.runner_payload_from_bytes(codec.runner_payload([b"e1", b"e2"], hello))
        assert hello_back == hello and events == [b"e1", b"e2"] and storage == []

    @pytest.mark.parametrize(
        "item",
        [RunnerInit({"x": 1}, True, "app:W", {"args": [], "kwargs": {}}, 1024), RunCall("root.w", 1, "h", [], {}),
         UpdateVars("root.w", 1, {"x": 2}), codec.EventsAcked(7)],
        ids=["init", "call", "update", "ack"],
    )
    def test_agent_message_round_trip(self, item):
        """What the agent sends a work process reads back the same."""
        assert codec.supervisor_payload_from_bytes(codec.supervisor_payload(item)) == item

    def test_garbage_is_a_codec_error(self):
        """Bytes that are no message raise CodecError (the agent closes that connection)."""
        with pytest.raises(CodecError, match="not a valid message"):
            codec.runner_payload_from_bytes(b"\xff\xfe\xfd")
