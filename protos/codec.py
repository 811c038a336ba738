"""The one converter between protobuf messages and lightning-ctl's plain types (``sdk._events``).

Values (attributes, call arguments) travel as JSON inside protobuf envelopes; they are encoded and decoded here
and nowhere else. Every ``x_to_pb`` has an ``x_from_pb`` and a round-trip test.
"""

from __future__ import annotations

import json
from typing import Any

from lightning_ctl.protos.lightning.v1 import agent_pb2, events_pb2
from lightning_ctl.sdk._events import (
    AgentUsage,
    Command,
    EventBody,
    GpuUsage,
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
from lightning_ctl.sdk._status import WorkStageStatus

_STREAMS = {"stdout": events_pb2.LogLines.STREAM_STDOUT, "stderr": events_pb2.LogLines.STREAM_STDERR}
_STREAM_NAMES = {v: k for k, v in _STREAMS.items()}


class CodecError(ValueError):
    """A message could not be decoded; the message names the field at fault."""


def dumps(value: Any) -> str:
    """Encode a JSON value the way every value travels (NaN allowed, as state allows it)."""
    return json.dumps(value, allow_nan=True, separators=(",", ":"))


def _loads(text: str, field_name: str, default: Any) -> Any:
    if not text:
        return default
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise CodecError(f"{field_name}: invalid JSON ({exc})") from None
    if default is not None and not isinstance(value, type(default)):
        raise CodecError(f"{field_name}: expected a JSON {_JSON_KIND[type(default)]}, got {type(value).__name__}")
    return value


_JSON_KIND = {dict: "object", list: "array"}
_STAGES = {stage.value for stage in WorkStageStatus}


def body_to_pb(body: EventBody, event: events_pb2.WorkEvent) -> None:
    """Fill the ``kind`` of ``event`` from ``body``."""
    if isinstance(body, VarsChanged):
        event.delta.vars_json = dumps(body.values)
    elif isinstance(body, StatusChanged):
        status = body.status
        event.status.call_hash = body.call_hash
        event.status.stage = status["stage"]
        event.status.timestamp = status["timestamp"]
        event.status.reason = status.get("reason") or ""
        event.status.message = status.get("message") or ""
    elif isinstance(body, LinesLogged):
        event.logs.stream = _STREAMS[body.stream]
        event.logs.lines.extend(body.lines)
        event.logs.offset = body.offset
        event.logs.end_offset = body.end_offset
    elif isinstance(body, ProcessStarted):
        event.started.pid = body.pid
    elif isinstance(body, ProcessExited):
        event.exit.pid = body.pid
        event.exit.exit_code = body.exit_code
        event.exit.signal = body.signal
    elif isinstance(body, WorkCrashed):
        event.error.traceback = body.traceback
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"unknown event body {type(body).__name__}")


def event_to_pb(event: WorkEvent) -> events_pb2.WorkEvent:
    """A WorkEvent as protobuf."""
    pb = events_pb2.WorkEvent(
        work_name=event.work_name, attempt=event.attempt, seq=event.seq, first_seq=event.first_seq
    )
    body_to_pb(event.body, pb)
    return pb


def event_from_pb(pb: events_pb2.WorkEvent) -> WorkEvent:
    """A WorkEvent from protobuf; raises CodecError naming the field at fault."""
    if not pb.work_name:
        raise CodecError("work_event.work_name: missing")
    kind = pb.WhichOneof("kind")
    body: EventBody
    if kind == "delta":
        body = VarsChanged(_loads(pb.delta.vars_json, "delta.vars_json", {}))
    elif kind == "status":
        s = pb.status
        if s.stage not in _STAGES:
            raise CodecError(f"status.stage: unknown stage {s.stage!r} (of {pb.work_name})")
        status: dict[str, Any] = {"stage": s.stage, "timestamp": s.timestamp}
        if s.message:
            status["message"] = s.message
        if s.reason:
            status["reason"] = s.reason
        body = StatusChanged(s.call_hash, status)
    elif kind == "logs":
        body = LinesLogged(
            _STREAM_NAMES.get(pb.logs.stream, "stdout"), tuple(pb.logs.lines), pb.logs.offset, pb.logs.end_offset
        )
    elif kind == "started":
        body = ProcessStarted(pb.started.pid)
    elif kind == "exit":
        body = ProcessExited(pb.exit.pid, pb.exit.exit_code, pb.exit.signal)
    elif kind == "error":
        body = WorkCrashed(pb.error.traceback)
    else:
        raise CodecError(f"work event of {pb.work_name!r}: missing kind")
    return WorkEvent(pb.work_name, pb.attempt, pb.seq, body, pb.first_seq)


def run_call_to_pb(call: RunCall) -> events_pb2.RunCall:
    """A RunCall as protobuf."""
    return events_pb2.RunCall(
        work_name=call.work_name,
        attempt=call.attempt,
        call_hash=call.call_hash,
        args_json=dumps(call.args),
        kwargs_json=dumps(call.kwargs),
        vars_json=dumps(call.vars) if call.vars else "",
        call_seq=call.call_seq,
    )


def run_call_from_pb(pb: events_pb2.RunCall) -> RunCall:
    """A RunCall from protobuf."""
    return RunCall(
        pb.work_name,
        pb.attempt,
        pb.call_hash,
        _loads(pb.args_json, "call.args_json", []),
        _loads(pb.kwargs_json, "call.kwargs_json", {}),
        _loads(pb.vars_json, "call.vars_json", {}),
        pb.call_seq,
    )


def update_vars_to_pb(update: UpdateVars) -> events_pb2.UpdateVars:
    """An UpdateVars as protobuf."""
    return events_pb2.UpdateVars(work_name=update.work_name, attempt=update.attempt, vars_json=dumps(update.vars))


def update_vars_from_pb(pb: events_pb2.UpdateVars) -> UpdateVars:
    """An UpdateVars from protobuf."""
    return UpdateVars(pb.work_name, pb.attempt, _loads(pb.vars_json, "update.vars_json", {}))


def command_to_pb(command: Command) -> agent_pb2.Command:
    """A command for an agent as protobuf."""
    if isinstance(command, RunCall):
        return agent_pb2.Command(call=run_call_to_pb(command))
    if isinstance(command, UpdateVars):
        return agent_pb2.Command(update=update_vars_to_pb(command))
    if isinstance(command, StopWork):
        return agent_pb2.Command(
            stop=agent_pb2.StopWork(
                work_name=command.work_name, attempt=command.attempt, reason=command.reason, grace_s=command.grace_s
            )
        )
    if isinstance(command, LaunchWork):
        return agent_pb2.Command(
            launch=agent_pb2.LaunchWork(
                work_name=command.work_name,
                attempt=command.attempt,
                app_path=command.app_path,
                vars_json=dumps(command.vars),
                env=command.env,
                start_action=command.start_action,
                stop_grace_s=command.stop_grace_s,
                work_class=command.work_class,
                init_args_json=dumps(command.init_args) if command.init_args is not None else "",
                gpu_indices=list(command.gpu_indices),
                bundle_digest=command.bundle_digest,
                app_relpath=command.app_relpath,
            )
        )
    raise TypeError(f"unknown command {type(command).__name__}")  # pragma: no cover


def command_from_pb(pb: agent_pb2.Command) -> Command:
    """A command for an agent from protobuf; raises CodecError naming the field at fault."""
    kind = pb.WhichOneof("kind")
    if kind == "call":
        return run_call_from_pb(pb.call)
    if kind == "update":
        return update_vars_from_pb(pb.update)
    if kind == "stop":
        return StopWork(pb.stop.work_name, pb.stop.attempt, pb.stop.reason, pb.stop.grace_s)
    if kind == "launch":
        launch = pb.launch
        return LaunchWork(
            work_name=launch.work_name,
            attempt=launch.attempt,
            app_path=launch.app_path,
            vars=_loads(launch.vars_json, "launch.vars_json", {}),
            env=dict(launch.env),
            start_action=launch.start_action,
            stop_grace_s=launch.stop_grace_s,
            work_class=launch.work_class,
            init_args=_loads(launch.init_args_json, "launch.init_args_json", None),
            gpu_indices=tuple(launch.gpu_indices),
            bundle_digest=launch.bundle_digest,
            app_relpath=launch.app_relpath,
        )
    raise CodecError("command: missing kind")


def usage_to_pb(usage: AgentUsage) -> agent_pb2.Heartbeat:
    """A machine's live use as the heartbeat that carries it."""
    return agent_pb2.Heartbeat(
        cpu_percent=usage.cpu_percent,
        memory_used_bytes=usage.memory_used_bytes,
        gpus=[
            agent_pb2.GpuUsage(index=g.index, utilization_percent=g.utilization_percent,
                               memory_used_bytes=g.memory_used_bytes, memory_total_bytes=g.memory_total_bytes)
            for g in usage.gpus
        ],
    )


def usage_from_pb(pb: agent_pb2.Heartbeat) -> AgentUsage:
    """A machine's live use from its heartbeat."""
    return AgentUsage(
        cpu_percent=pb.cpu_percent,
        memory_used_bytes=pb.memory_used_bytes,
        gpus=tuple(
            GpuUsage(g.index, g.utilization_percent, g.memory_used_bytes, g.memory_total_bytes) for g in pb.gpus
        ),
    )
