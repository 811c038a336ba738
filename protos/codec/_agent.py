"""The agent's stream besides work events: registration, welcome, heartbeats, acknowledgements, rejections.

A registration is checked as it is decoded (identity, resources, labels, running works), and so is a heartbeat's
usage, each failure naming the field; the servicer ends the stream with INVALID_ARGUMENT carrying that message. Work
events go out of the agent as the bytes its work processes wrote (``agent_events_message``): the agent never decodes
them.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence, Union

from lightning_ctl.protos.codec._commands import command_from_pb, command_to_pb
from lightning_ctl.protos.codec._values import CodecError, check_count, check_number, check_text
from lightning_ctl.protos.lightning.v1 import agent_pb2
from lightning_ctl.protos.limits import (
    MAX_AGENT_ID_CHARS,
    MAX_AGENT_NAME_CHARS,
    MAX_GPUS,
    MAX_LABEL_CHARS,
    MAX_LABELS,
    MAX_RUNNING_WORKS,
    MAX_WORK_NAME_CHARS,
)
from lightning_ctl.sdk._agent_messages import (
    AgentUsage,
    EventRejected,
    GpuDevice,
    GpuUsage,
    OpenTunnel,
    Registration,
    Welcome,
)
from lightning_ctl.sdk._events import Command, EventsApplied, OutputShown, RunningWork
from lightning_ctl.sdk._storage_types import UploadRequested

ControlItem = Union[
    Welcome, Sequence[Union[Command, UploadRequested, OpenTunnel]], EventsApplied, OutputShown, EventRejected
]
"""What one ControlMessage carries, as plain types."""

_AGENT_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_AGENT_ID_CHARS - 1}}}")
_EVENTS_FIELD_TAG = b"\x1a"  # AgentMessage.events (field 3, length-delimited)
_EVENT_FIELD_TAG = b"\x0a"  # WorkEvents.events (field 1, length-delimited)


# -- registration -------------------------------------------------------------------------------------------------


def registration_to_pb(registration: Registration) -> agent_pb2.Register:
    """A Registration as protobuf."""
    r = registration
    return agent_pb2.Register(
        agent_id=r.agent_id,
        name=r.name,
        hostname=r.hostname,
        resources=agent_pb2.Resources(
            cpus=r.cpus,
            memory_bytes=r.memory_bytes,
            gpus=[agent_pb2.GpuDevice(index=g.index, uuid=g.uuid, name=g.name, memory_bytes=g.memory_bytes)
                  for g in r.gpus],
        ),
        labels=r.labels,
        protocol_version=r.protocol_version,
        is_local=r.is_local,
        running=[agent_pb2.RunningWork(work_name=w.work_name, attempt=w.attempt, pid=w.pid,
                                       gpu_indices=list(w.gpu_indices), port=w.port) for w in r.running],
        advertise_address=r.advertise_address,
        ports=agent_pb2.PortRange(first=r.ports[0], last=r.ports[1]) if r.ports else None,
    )


def registration_from_pb(pb: agent_pb2.Register) -> Registration:
    """A Registration from protobuf, checked; raises CodecError naming the field at fault.

    The protocol version is not checked here: the servicer refuses another version with both versions named.
    """
    check_text(pb.agent_id, "register.agent_id", MAX_AGENT_ID_CHARS, required=True)
    if not _AGENT_ID.fullmatch(pb.agent_id):
        raise CodecError(f"register.agent_id: {pb.agent_id[:64]!r} is not an agent id (letters, digits, '.', '_', "
                         "'-')")
    name = pb.name or pb.hostname
    check_text(name, "register.name", MAX_AGENT_NAME_CHARS, required=True)
    if not name.isprintable():
        raise CodecError(f"register.name: {name[:64]!r} holds control characters")
    check_text(pb.hostname, "register.hostname", MAX_AGENT_NAME_CHARS)
    resources = pb.resources
    check_number(resources.cpus, "register.resources.cpus")
    check_count(resources.memory_bytes, "register.resources.memory_bytes")
    if len(resources.gpus) > MAX_GPUS:
        raise CodecError(f"register.resources.gpus: {len(resources.gpus)} GPUs, over the limit of {MAX_GPUS}")
    indices = [check_count(g.index, "register.resources.gpus.index") for g in resources.gpus]
    if len(set(indices)) != len(indices):
        raise CodecError(f"register.resources.gpus: an index appears twice in {sorted(indices)}")
    return Registration(
        agent_id=pb.agent_id,
        name=name,
        hostname=pb.hostname,
        cpus=resources.cpus,
        memory_bytes=resources.memory_bytes,
        gpus=tuple(GpuDevice(g.index, g.uuid, g.name, g.memory_bytes) for g in resources.gpus),
        labels=labels_from_pb(pb.labels, "register.labels"),
        protocol_version=pb.protocol_version,
        is_local=pb.is_local,
        running=_running_from_pb(pb.running),
        advertise_address=check_text(pb.advertise_address, "register.advertise_address", MAX_AGENT_NAME_CHARS),
        ports=_ports_from_pb(pb.ports) if pb.HasField("ports") else None,
    )


def _ports_from_pb(ports: agent_pb2.PortRange) -> tuple[int, int]:
    if not 1 <= ports.first <= ports.last <= 65535:
        raise CodecError(f"register.ports: {ports.first}-{ports.last} is not a range of ports")
    return ports.first, ports.last


def labels_from_pb(labels: Mapping[str, str], field_name: str) -> dict[str, str]:
    """A protobuf ``map<string, string>`` of labels, checked for count and sizes."""
    found = dict(labels)
    if len(found) > MAX_LABELS:
        raise CodecError(f"{field_name}: {len(found)} labels, over the limit of {MAX_LABELS}")
    for key, value in found.items():
        check_text(key, f"{field_name} key", MAX_LABEL_CHARS, required=True)
        check_text(value, f"{field_name}[{key[:64]!r}]", MAX_LABEL_CHARS)
    return found


def _running_from_pb(running: Iterable[agent_pb2.RunningWork]) -> tuple[RunningWork, ...]:
    entries = list(running)
    if len(entries) > MAX_RUNNING_WORKS:
        raise CodecError(f"register.running: {len(entries)} works, over the limit of {MAX_RUNNING_WORKS}")
    works = []
    for entry in entries:
        check_text(entry.work_name, "register.running.work_name", MAX_WORK_NAME_CHARS, required=True)
        check_count(entry.attempt, f"register.running[{entry.work_name}].attempt", minimum=1)
        check_count(entry.pid, f"register.running[{entry.work_name}].pid")
        works.append(RunningWork(entry.work_name, entry.attempt, entry.pid, tuple(entry.gpu_indices), entry.port))
    return tuple(works)


# -- control plane -> agent ---------------------------------------------------------------------------------------


def control_message_to_pb(item: ControlItem) -> agent_pb2.ControlMessage:
    """One ControlMessage carrying ``item``."""
    if isinstance(item, Welcome):
        return agent_pb2.ControlMessage(welcome=agent_pb2.Welcome(
            session_id=item.session_id, heartbeat_interval_s=item.heartbeat_interval_s,
            agent_credential=item.agent_credential, max_attribute_bytes=item.max_attribute_bytes,
            protocol_version=item.protocol_version))
    if isinstance(item, EventsApplied):
        return agent_pb2.ControlMessage(ack=agent_pb2.EventAck(work_name=item.work_name, attempt=item.attempt,
                                                               seq=item.seq))
    if isinstance(item, OutputShown):
        return agent_pb2.ControlMessage(output_ack=agent_pb2.OutputAck(
            work_name=item.work_name, attempt=item.attempt, stdout_offset=item.stdout_offset,
            stderr_offset=item.stderr_offset))
    if isinstance(item, EventRejected):
        return agent_pb2.ControlMessage(rejected=agent_pb2.EventRejected(
            work_name=item.work_name, attempt=item.attempt, seq=item.seq, code=item.code, message=item.message))
    return agent_pb2.ControlMessage(commands=agent_pb2.Commands(commands=[command_to_pb(c) for c in item]))


def control_message_from_pb(pb: agent_pb2.ControlMessage) -> ControlItem:
    """What a ControlMessage carries; raises CodecError for an empty or malformed one."""
    kind = pb.WhichOneof("kind")
    if kind == "welcome":
        w = pb.welcome
        return Welcome(w.session_id, w.heartbeat_interval_s, w.agent_credential, w.max_attribute_bytes,
                       w.protocol_version)
    if kind == "ack":
        return EventsApplied(pb.ack.work_name, pb.ack.attempt, pb.ack.seq)
    if kind == "output_ack":
        shown = pb.output_ack
        return OutputShown(shown.work_name, shown.attempt, shown.stdout_offset, shown.stderr_offset)
    if kind == "rejected":
        r = pb.rejected
        return EventRejected(r.work_name, r.attempt, r.seq, r.code, r.message)
    if kind == "commands":
        return [command_from_pb(c) for c in pb.commands.commands]
    raise CodecError("control message: missing kind")


# -- agent -> control plane ---------------------------------------------------------------------------------------


def register_message(registration: Registration) -> agent_pb2.AgentMessage:
    """The first message of an agent's stream."""
    return agent_pb2.AgentMessage(register=registration_to_pb(registration))


def heartbeat_message(usage: AgentUsage) -> agent_pb2.AgentMessage:
    """A heartbeat with the machine's live use."""
    return agent_pb2.AgentMessage(heartbeat=usage_to_pb(usage))


def usage_to_pb(usage: AgentUsage) -> agent_pb2.Heartbeat:
    """A machine's live use as the heartbeat that carries it."""
    return agent_pb2.Heartbeat(
        cpu_percent=usage.cpu_percent,
        memory_used_bytes=usage.memory_used_bytes,
        gpus=[agent_pb2.GpuUsage(index=g.index, utilization_percent=g.utilization_percent,
                                 memory_used_bytes=g.memory_used_bytes, memory_total_bytes=g.memory_total_bytes)
              for g in usage.gpus],
    )


def usage_from_pb(pb: agent_pb2.Heartbeat) -> AgentUsage:
    """A machine's live use from its heartbeat, checked; raises CodecError naming the field at fault."""
    if len(pb.gpus) > MAX_GPUS:
        raise CodecError(f"heartbeat.gpus: {len(pb.gpus)} GPUs, over the limit of {MAX_GPUS}")
    return AgentUsage(
        cpu_percent=check_number(pb.cpu_percent, "heartbeat.cpu_percent"),
        memory_used_bytes=check_count(pb.memory_used_bytes, "heartbeat.memory_used_bytes"),
        gpus=tuple(
            GpuUsage(check_count(g.index, "heartbeat.gpus.index"),
                     check_number(g.utilization_percent, f"heartbeat.gpus[{g.index}].utilization_percent"),
                     check_count(g.memory_used_bytes, f"heartbeat.gpus[{g.index}].memory_used_bytes"),
                     check_count(g.memory_total_bytes, f"heartbeat.gpus[{g.index}].memory_total_bytes"))
            for g in pb.gpus
        ),
    )


def agent_events_message(events: list[bytes]) -> bytes:
    """A serialized AgentMessage carrying ``events`` (each a serialized WorkEvent) without decoding them."""
    inner = b"".join(_EVENT_FIELD_TAG + _varint(len(event)) + event for event in events)
    return _EVENTS_FIELD_TAG + _varint(len(inner)) + inner


def serialize_agent_message(message: agent_pb2.AgentMessage | bytes) -> bytes:
    """The request serializer of the agent's stream: messages, or bytes already serialized."""
    return message if isinstance(message, bytes) else message.SerializeToString()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
