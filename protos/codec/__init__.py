"""The one converter between protobuf messages and lightning-ctl's plain types.

The plain types are those of ``sdk._events``, ``sdk._agent_messages`` and ``sdk._storage_types``; what arrives
is held to the protocol's rules here.

Values (attributes, call arguments) travel as JSON inside protobuf envelopes; they are encoded and decoded here
and nowhere else. Every ``x_to_pb`` has an ``x_from_pb`` and a round-trip test. A decoder raises
:class:`CodecError` naming the field (and the work) at fault.

    _values    JSON values, CodecError, field checks
    _events    work events (checked: numbering, private attributes, sizes, stages)
    _commands  launch, call, update, stop
    _agent     registration and heartbeat (checked), welcome, acknowledgements, rejections, the agent's messages
    _runner    the socket between an agent and its work processes (events stay opaque to the agent)
    _storage   the app's store: artifacts, Drive files, a work's storage requests and their replies
"""

from lightning_ctl.protos.codec._agent import (
    ControlItem,
    agent_events_message,
    control_message_from_pb,
    control_message_to_pb,
    heartbeat_message,
    labels_from_pb,
    register_message,
    registration_from_pb,
    registration_to_pb,
    serialize_agent_message,
    usage_from_pb,
    usage_to_pb,
)
from lightning_ctl.protos.codec._commands import (
    command_from_pb,
    command_to_pb,
    run_call_from_pb,
    run_call_to_pb,
    update_vars_from_pb,
    update_vars_to_pb,
)
from lightning_ctl.protos.codec._events import (
    PROCESS_KINDS,
    SETTABLE_PRIVATE_NAMES,
    STREAM_NAMES,
    STREAMS,
    EventDecodeError,
    body_to_pb,
    delta_values,
    event_bytes,
    event_from_pb,
    event_to_pb,
)
from lightning_ctl.protos.codec._runner import (
    EventsAcked,
    ResendEvents,
    RunnerFrame,
    SupervisorItem,
    runner_payload,
    runner_payload_from_bytes,
    supervisor_payload,
    supervisor_payload_from_bytes,
)
from lightning_ctl.protos.codec._storage import (
    artifact_from_pb,
    artifact_to_pb,
    drive_file_from_pb,
    drive_file_to_pb,
    file_from_pb,
    file_to_pb,
    kind_from_pb,
    kind_to_pb,
    outcome_from_pb,
    outcome_to_pb,
    storage_reply_from_pb,
    storage_reply_to_pb,
    storage_request_from_pb,
    storage_request_to_pb,
    upload_requested_from_pb,
    upload_requested_to_pb,
)
from lightning_ctl.protos.codec._values import CodecError, dumps, loads

__all__ = [
    "PROCESS_KINDS",
    "SETTABLE_PRIVATE_NAMES",
    "STREAMS",
    "STREAM_NAMES",
    "CodecError",
    "ControlItem",
    "EventDecodeError",
    "EventsAcked",
    "ResendEvents",
    "RunnerFrame",
    "SupervisorItem",
    "agent_events_message",
    "artifact_from_pb",
    "artifact_to_pb",
    "body_to_pb",
    "command_from_pb",
    "command_to_pb",
    "control_message_from_pb",
    "control_message_to_pb",
    "delta_values",
    "drive_file_from_pb",
    "drive_file_to_pb",
    "dumps",
    "event_bytes",
    "event_from_pb",
    "event_to_pb",
    "file_from_pb",
    "file_to_pb",
    "heartbeat_message",
    "kind_from_pb",
    "kind_to_pb",
    "labels_from_pb",
    "loads",
    "outcome_from_pb",
    "outcome_to_pb",
    "register_message",
    "registration_from_pb",
    "registration_to_pb",
    "run_call_from_pb",
    "run_call_to_pb",
    "runner_payload",
    "runner_payload_from_bytes",
    "serialize_agent_message",
    "storage_reply_from_pb",
    "storage_reply_to_pb",
    "storage_request_from_pb",
    "storage_request_to_pb",
    "supervisor_payload",
    "supervisor_payload_from_bytes",
    "update_vars_from_pb",
    "update_vars_to_pb",
    "upload_requested_from_pb",
    "upload_requested_to_pb",
    "usage_from_pb",
    "usage_to_pb",
]
