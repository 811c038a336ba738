"""The runner link: messages between an agent and its work processes, as the payloads of socket frames.

The agent's side handles events as opaque bytes (each a serialized WorkEvent, relayed as it is) and a work's
storage requests as plain types (it serves them); the work process's side turns what the agent sends into plain
types.
"""

from __future__ import annotations

from typing import NamedTuple, Union

from google.protobuf.message import DecodeError

from lightning_ctl.protos.codec._commands import (
    run_call_from_pb,
    run_call_to_pb,
    update_vars_from_pb,
    update_vars_to_pb,
)
from lightning_ctl.protos.codec._storage import (
    storage_reply_from_pb,
    storage_reply_to_pb,
    storage_request_from_pb,
    storage_request_to_pb,
)
from lightning_ctl.protos.codec._values import CodecError, dumps, loads
from lightning_ctl.protos.lightning.v1 import runner_pb2
from lightning_ctl.sdk._agent_messages import RunnerHello, RunnerInit
from lightning_ctl.sdk._events import RunCall, UpdateVars
from lightning_ctl.sdk._storage_types import StorageReply, StorageRequest


class EventsAcked(int):
    """The control plane applied the work's events up to this seq."""


class ResendEvents:
    """The agent started a new session: send every unacknowledged event again."""


SupervisorItem = Union[RunnerInit, RunCall, UpdateVars, EventsAcked, ResendEvents, StorageReply]


class RunnerFrame(NamedTuple):
    """What one message of a work process carries."""

    hello: RunnerHello | None
    """On a connection's first message only."""
    events: list[bytes]
    """Serialized WorkEvents, relayed unread."""
    storage: list[StorageRequest]


def _parse(message: runner_pb2.RunnerMessage | runner_pb2.SupervisorMessage, payload: bytes, what: str) -> None:
    try:
        message.ParseFromString(payload)
    except DecodeError as exc:
        raise CodecError(f"{what}: not a valid message ({exc})") from None


# -- work process -> agent ----------------------------------------------------------------------------------------


def runner_payload(events: list[bytes], hello: RunnerHello | None = None,
                   storage: tuple[StorageRequest, ...] | list[StorageRequest] = ()) -> bytes:
    """A RunnerMessage: serialized events (after the hello on a connection's first message), storage requests."""
    message = runner_pb2.RunnerMessage(events=events, storage=[storage_request_to_pb(r) for r in storage])
    if hello is not None:
        message.hello.CopyFrom(runner_pb2.RunnerHello(work_name=hello.work_name, attempt=hello.attempt,
                                                      pid=hello.pid, initialized=hello.initialized))
    return message.SerializeToString()


def runner_payload_from_bytes(payload: bytes) -> RunnerFrame:
    """The hello (if there is one), the serialized events and the storage requests of a work process's message.

    Raises:
        CodecError: the payload is not a RunnerMessage, or a storage request is malformed.
    """
    message = runner_pb2.RunnerMessage()
    _parse(message, payload, "work process message")
    hello = None
    if message.HasField("hello"):
        h = message.hello
        hello = RunnerHello(h.work_name, h.attempt, h.pid, h.initialized)
    return RunnerFrame(hello, list(message.events), [storage_request_from_pb(r) for r in message.storage])


# -- agent -> work process ----------------------------------------------------------------------------------------


def supervisor_payload(item: SupervisorItem) -> bytes:
    """A SupervisorMessage for a work process."""
    if isinstance(item, RunnerInit):
        message = runner_pb2.SupervisorMessage(init=runner_pb2.RunnerInit(
            vars_json=dumps(item.vars), start_action=item.start_action, work_class=item.work_class,
            init_args_json=dumps(item.init_args) if item.init_args is not None else "",
            max_attribute_bytes=item.max_attribute_bytes))
    elif isinstance(item, RunCall):
        message = runner_pb2.SupervisorMessage(call=run_call_to_pb(item))
    elif isinstance(item, UpdateVars):
        message = runner_pb2.SupervisorMessage(update=update_vars_to_pb(item))
    elif isinstance(item, StorageReply):
        message = runner_pb2.SupervisorMessage(storage_reply=storage_reply_to_pb(item))
    elif isinstance(item, EventsAcked):
        message = runner_pb2.SupervisorMessage(ack=runner_pb2.EventsAcked(seq=int(item)))
    else:
        message = runner_pb2.SupervisorMessage(resend=runner_pb2.ResendEvents())
    return message.SerializeToString()


def supervisor_payload_from_bytes(payload: bytes) -> SupervisorItem:
    """What the agent sent a work process.

    Raises:
        CodecError: the payload is not a SupervisorMessage, or carries invalid JSON.
    """
    message = runner_pb2.SupervisorMessage()
    _parse(message, payload, "agent message")
    kind = message.WhichOneof("kind")
    if kind == "init":
        init = message.init
        return RunnerInit(loads(init.vars_json, "init.vars_json", {}), init.start_action, init.work_class,
                          loads(init.init_args_json, "init.init_args_json", None), init.max_attribute_bytes)
    if kind == "call":
        return run_call_from_pb(message.call)
    if kind == "update":
        return update_vars_from_pb(message.update)
    if kind == "ack":
        return EventsAcked(message.ack.seq)
    if kind == "resend":
        return ResendEvents()
    if kind == "storage_reply":
        return storage_reply_from_pb(message.storage_reply)
    raise CodecError("agent message: missing kind")
