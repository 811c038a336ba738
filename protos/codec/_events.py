"""Work events: ``sdk._events`` bodies to and from ``events_pb2.WorkEvent``, checked as they are decoded.

Decoding is where a work's events are held to the protocol's rules, each failure naming the work, the field or
attribute and the cause: events of the work process (delta, status, started, error) are numbered from 1, events
the agent observes (output, exit) carry 0; a delta sets only state attributes (never ``_calls`` or another
private name), each value decodes as JSON and fits the attribute limit; stages, streams, pids and offsets make
sense. An error raised once the event's (work, attempt, seq) are known is an :class:`EventDecodeError`, so the
control plane can fail that one work in the event's place rather than the agent's stream.
"""

from __future__ import annotations

import json
from typing import Any

from lightning_ctl.protos.codec._values import CodecError, check_text, dumps
from lightning_ctl.protos.lightning.v1 import events_pb2
from lightning_ctl.protos.limits import MAX_CALL_HASH_CHARS, MAX_STATUS_MESSAGE_CHARS, MAX_WORK_NAME_CHARS
from lightning_ctl.sdk._events import (
    EventBody,
    InvalidEvent,
    LinesLogged,
    ProcessExited,
    ProcessStarted,
    StatusChanged,
    VarsChanged,
    WorkCrashed,
    WorkEndpoint,
    WorkEvent,
)
from lightning_ctl.sdk._status import WorkStageStatus
from lightning_ctl.sdk._work import LightningWork

STREAMS = {"stdout": events_pb2.LogLines.STREAM_STDOUT, "stderr": events_pb2.LogLines.STREAM_STDERR}
"""Output stream names to their protobuf values (and ``STREAM_NAMES`` back)."""
STREAM_NAMES = {v: k for k, v in STREAMS.items()}
_STAGES = {stage.value for stage in WorkStageStatus}
PROCESS_KINDS = frozenset({"delta", "status", "started", "error"})
"""Kinds the work process sends, numbered from 1; the others (logs, exit, invalid, endpoint) come from its agent."""
SETTABLE_PRIVATE_NAMES = LightningWork._INTERNAL_STATE_NAMES - {"_cloud_compute"}
"""The ``_``-names a work's events may set: lightning's own state (``_url``, ``_port``...), nothing else private."""
_MAX_SIGNAL = 128
_MAX_PORT = 65535
_MAX_ADDRESS_CHARS = 256


class EventDecodeError(CodecError):
    """A work event whose (work, attempt, seq) are known broke a rule: that work fails, the stream carries on."""

    def __init__(self, message: str, *, work_name: str, attempt: int, seq: int, first_seq: int = 0) -> None:
        """Create the error.

        Args:
            message: What is wrong; names the work, the field or attribute, and the cause.
            work_name: The event's work.
            attempt: The event's attempt.
            seq: The event's sequence number; 0 when the number itself was wrong (the refusal then applies at once).
            first_seq: For a merged change, the first number it covers.
        """
        super().__init__(message)
        self.work_name = work_name
        self.attempt = attempt
        self.seq = seq
        self.first_seq = first_seq


def body_to_pb(body: EventBody, event: events_pb2.WorkEvent) -> None:
    """Fill the ``kind`` of ``event`` from ``body``."""
    if isinstance(body, VarsChanged):
        event.delta.SetInParent()  # an empty change is still a change (its seq must be applied)
        event.delta.command_seq = body.command_seq
        values = event.delta.values
        for name, value in body.values.items():
            values[name] = dumps(value)
    elif isinstance(body, StatusChanged):
        status = body.status
        event.status.call_hash = body.call_hash
        event.status.stage = status["stage"]
        event.status.timestamp = status["timestamp"]
        event.status.reason = status.get("reason") or ""
        event.status.message = status.get("message") or ""
    elif isinstance(body, LinesLogged):
        event.logs.stream = STREAMS[body.stream]
        event.logs.lines.extend(body.lines)
        event.logs.offset = body.offset
        event.logs.end_offset = body.end_offset
    elif isinstance(body, ProcessStarted):
        event.started.pid = body.pid
    elif isinstance(body, ProcessExited):
        event.exit.pid = body.pid
        event.exit.exit_code = body.exit_code
        event.exit.signal = body.signal
        event.exit.reason = body.reason
    elif isinstance(body, WorkCrashed):
        event.error.traceback = body.traceback
    elif isinstance(body, InvalidEvent):
        event.invalid.reason = body.reason
    elif isinstance(body, WorkEndpoint):
        event.endpoint.host = body.host
        event.endpoint.port = body.port
        event.endpoint.internal_ip = body.internal_ip
        event.endpoint.url = body.url
        event.endpoint.message = body.message
        event.endpoint.error = body.error
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"unknown event body {type(body).__name__}")


def event_to_pb(event: WorkEvent) -> events_pb2.WorkEvent:
    """A WorkEvent as protobuf."""
    pb = events_pb2.WorkEvent(
        work_name=event.work_name, attempt=event.attempt, seq=event.seq, first_seq=event.first_seq
    )
    body_to_pb(event.body, pb)
    return pb


def event_bytes(work_name: str, attempt: int, body: EventBody) -> bytes:
    """An event the agent observed itself (seq 0), serialized as it travels."""
    pb = events_pb2.WorkEvent(work_name=work_name, attempt=attempt, seq=0)
    body_to_pb(body, pb)
    return pb.SerializeToString()


def event_from_pb(pb: events_pb2.WorkEvent, max_value_bytes: int | None = None) -> WorkEvent:
    """A WorkEvent from protobuf, held to the protocol's rules.

    Args:
        pb: The event.
        max_value_bytes: The largest JSON value a delta may carry per attribute (None: no limit).

    Raises:
        EventDecodeError: a rule is broken and the event's work, attempt (and seq) are known.
        CodecError: the event names no work, or no valid attempt.
    """
    name = check_text(pb.work_name, "work_event.work_name", MAX_WORK_NAME_CHARS, required=True)
    if pb.attempt < 1:
        raise CodecError(f"work_event.attempt of work {name}: must be >= 1, got {pb.attempt}")
    kind = pb.WhichOneof("kind")
    where: dict[str, Any] = dict(work_name=name, attempt=pb.attempt, seq=0)
    if kind is None or kind in PROCESS_KINDS:
        if pb.seq < 1:
            raise EventDecodeError(f"work {name}: {kind or 'empty'} event with seq {pb.seq}; a work process numbers "
                                   "its events from 1", **where)
        if pb.first_seq < 0 or pb.first_seq > pb.seq:
            raise EventDecodeError(f"work {name}: {kind or 'empty'} event {pb.seq} covers first_seq {pb.first_seq}, "
                                   f"outside 0..{pb.seq}", **where)
        where = dict(work_name=name, attempt=pb.attempt, seq=pb.seq, first_seq=pb.first_seq)
        if kind is None:
            raise EventDecodeError(f"work {name}: event {pb.seq} has no kind (an empty event)", **where)
    elif kind != "invalid" and pb.seq != 0:
        raise EventDecodeError(f"work {name}: {kind} event with seq {pb.seq}; events the agent observes carry 0",
                               **where)
    try:
        body = _body_from_pb(pb, kind, max_value_bytes)
    except CodecError as exc:
        raise EventDecodeError(f"work {name}: {exc}", **where) from None
    return WorkEvent(name, pb.attempt, pb.seq, body, pb.first_seq)


def _body_from_pb(pb: events_pb2.WorkEvent, kind: str, max_value_bytes: int | None) -> EventBody:
    if kind == "delta":
        if pb.delta.command_seq < 0:
            raise CodecError(f"delta.command_seq: {pb.delta.command_seq} is negative")
        return VarsChanged(delta_values(pb.delta.values, max_value_bytes), pb.delta.command_seq)
    if kind == "status":
        return _status_from_pb(pb.status)
    if kind == "logs":
        logs = pb.logs
        if logs.stream not in STREAM_NAMES:
            raise CodecError(f"logs.stream: unknown stream {logs.stream}")
        if logs.offset < 0 or logs.end_offset < logs.offset:
            raise CodecError(f"logs: offsets {logs.offset}..{logs.end_offset} are not a byte range")
        return LinesLogged(STREAM_NAMES[logs.stream], tuple(logs.lines), logs.offset, logs.end_offset)
    if kind == "started":
        if pb.started.pid <= 0:
            raise CodecError(f"started.pid: must be > 0, got {pb.started.pid}")
        return ProcessStarted(pb.started.pid)
    if kind == "exit":
        exit_ = pb.exit
        if exit_.pid < 0 or not 0 <= exit_.signal < _MAX_SIGNAL:
            raise CodecError(f"exit: pid {exit_.pid} / signal {exit_.signal} out of range")
        return ProcessExited(exit_.pid, exit_.exit_code, exit_.signal,
                             check_text(exit_.reason, "exit.reason", MAX_STATUS_MESSAGE_CHARS))
    if kind == "error":
        return WorkCrashed(check_text(pb.error.traceback, "error.traceback", MAX_STATUS_MESSAGE_CHARS))
    if kind == "endpoint":
        return _endpoint_from_pb(pb.endpoint)
    return InvalidEvent(check_text(pb.invalid.reason, "invalid.reason", MAX_STATUS_MESSAGE_CHARS))


def _endpoint_from_pb(e: events_pb2.WorkEndpoint) -> WorkEndpoint:
    if not 0 <= e.port <= _MAX_PORT or (e.port == 0 and not e.error):
        raise CodecError(f"endpoint.port: {e.port} is not a port")
    for value, field in ((e.host, "host"), (e.internal_ip, "internal_ip"), (e.url, "url")):
        check_text(value, f"endpoint.{field}", _MAX_ADDRESS_CHARS)
    if e.url and not e.url.startswith(("http://", "https://")):
        raise CodecError(f"endpoint.url: {e.url[:64]!r} is not an http(s) URL")
    check_text(e.message, "endpoint.message", MAX_STATUS_MESSAGE_CHARS)
    check_text(e.error, "endpoint.error", MAX_STATUS_MESSAGE_CHARS)
    return WorkEndpoint(e.host, e.port, e.internal_ip, e.url, e.message, e.error)


def _status_from_pb(s: events_pb2.StatusChange) -> StatusChanged:
    if s.stage not in _STAGES:
        raise CodecError(f"status.stage: unknown stage {s.stage[:64]!r}")
    check_text(s.call_hash, "status.call_hash", MAX_CALL_HASH_CHARS, required=True)
    check_text(s.reason, "status.reason", MAX_CALL_HASH_CHARS)
    check_text(s.message, "status.message", MAX_STATUS_MESSAGE_CHARS)
    if s.timestamp != s.timestamp or s.timestamp < 0:  # NaN or negative
        raise CodecError(f"status.timestamp: {s.timestamp!r} is not a time")
    status: dict[str, Any] = {"stage": s.stage, "timestamp": s.timestamp}
    if s.message:
        status["message"] = s.message
    if s.reason:
        status["reason"] = s.reason
    return StatusChanged(s.call_hash, status)


def delta_values(values: Any, max_value_bytes: int | None = None) -> dict[str, Any]:
    """The attributes of a delta (``map<string, string>`` of JSON values), each name and value checked.

    Raises:
        CodecError: names the attribute and the cause (private name, invalid JSON, over the limit).
    """
    decoded: dict[str, Any] = {}
    for name in sorted(values):
        text = values[name]
        shown = name if len(name) <= 80 else name[:80] + "..."
        if not name.isidentifier():
            raise CodecError(f"attribute {shown!r}: not a valid attribute name")
        if name.startswith("_") and name not in SETTABLE_PRIVATE_NAMES:
            raise CodecError(f"attribute {name}: private attributes never leave the work's process (only its "
                             "declared public attributes may change)")
        if max_value_bytes is not None and len(text) > max_value_bytes:
            raise CodecError(f"attribute {name}: a value of {len(text)} bytes, over the limit of {max_value_bytes} "
                             "bytes (lightning-ctl run --max-attribute-size)")
        try:
            decoded[name] = json.loads(text)
        except (ValueError, RecursionError) as exc:
            cause = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise CodecError(f"attribute {name}: its value is not valid JSON ({cause})") from None
    return decoded
