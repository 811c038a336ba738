"""A hand-written agent for tests: it speaks gRPC to a real control plane and sends exactly what a test gives it.

    rogue = RogueAgent(cp.loopback_address, cluster.join_token)      # opens the stream (the credential in metadata)
    rogue.register(labels={"role": "rogue"})                          # a valid registration, fields overridable
    launch = rogue.wait_for_launch("root.works.w0")                   # commands the control plane sends
    rogue.send_events(event(...))                                     # crafted work events
    rogue.wait_closed()  -> (code, details)                           # how the control plane ended the stream

A reader thread collects what the control plane sends; a heartbeat thread keeps the agent connected. Nothing here
is lightning-ctl's own agent code: only the wire schema.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import grpc

from lightning_ctl.protos.lightning.v1 import agent_pb2, agent_pb2_grpc, events_pb2
from lightning_ctl.protos.transport import PROTOCOL_VERSION
from tests.helpers import wait_until


def register_message(agent_id: str = "rogue-agent", name: str = "rogue", **fields: Any) -> agent_pb2.AgentMessage:
    """A valid registration (4 CPUs, 8 GiB, no GPU) with ``fields`` of ``Register`` replaced."""
    register = agent_pb2.Register(agent_id=agent_id, name=name, hostname="rogue-host",
                                  resources=agent_pb2.Resources(cpus=4, memory_bytes=8 * 2**30),
                                  protocol_version=PROTOCOL_VERSION)
    for key, value in fields.items():
        if key == "labels":
            register.labels.update(value)
        elif key == "resources":
            register.resources.CopyFrom(value)
        elif key == "running":
            register.running.extend(value)
        else:
            setattr(register, key, value)
    return agent_pb2.AgentMessage(register=register)


def event(work_name: str, attempt: int, seq: int, first_seq: int = 0, **kind: Any) -> events_pb2.WorkEvent:
    """A WorkEvent with one kind set, e.g. ``delta=events_pb2.VarsDelta(values={"x": "1"})``."""
    return events_pb2.WorkEvent(work_name=work_name, attempt=attempt, seq=seq, first_seq=first_seq, **kind)


class RogueAgent:
    """One stream to a control plane, driven by the test (see the module docstring)."""

    def __init__(self, address: str, credential: str, heartbeat_s: float = 0.5) -> None:
        self._outgoing: queue.SimpleQueue[agent_pb2.AgentMessage | None] = queue.SimpleQueue()
        self.received: list[agent_pb2.ControlMessage] = []
        self.closed = threading.Event()
        self.code: grpc.StatusCode | None = None
        self.details = ""
        self._channel = grpc.insecure_channel(address)
        stub = agent_pb2_grpc.AgentServiceStub(self._channel)
        self._responses = stub.Connect(iter(self._outgoing.get, None),
                                       metadata=(("authorization", f"Bearer {credential}"),))
        self._heartbeat_s = heartbeat_s
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for message in self._responses:
                self.received.append(message)
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            self.code, self.details = exc.code(), exc.details() or ""
        finally:
            self.closed.set()

    def _beat(self) -> None:
        while not self.closed.wait(self._heartbeat_s):
            self.send(agent_pb2.AgentMessage(heartbeat=agent_pb2.Heartbeat()))

    def send(self, message: agent_pb2.AgentMessage) -> None:
        """Send one message on the stream."""
        self._outgoing.put(message)

    def register(self, message: agent_pb2.AgentMessage | None = None, **fields: Any) -> agent_pb2.Welcome:
        """Register (a valid registration with ``fields`` replaced, or ``message``) and return the welcome."""
        self.send(message if message is not None else register_message(**fields))
        welcome = wait_until(lambda: self.closed.is_set() or next(
            (m.welcome for m in self.received if m.WhichOneof("kind") == "welcome"), None), 15,
            what="the welcome")
        assert not isinstance(welcome, bool), f"the stream ended: {self.code} {self.details}"
        threading.Thread(target=self._beat, daemon=True).start()
        return welcome

    def send_events(self, *events: events_pb2.WorkEvent) -> None:
        """Send work events in one message."""
        self.send(agent_pb2.AgentMessage(events=agent_pb2.WorkEvents(events=list(events))))

    def commands(self) -> list[agent_pb2.Command]:
        """Every command received so far."""
        return [c for m in list(self.received) if m.WhichOneof("kind") == "commands" for c in m.commands.commands]

    def wait_for_launch(self, work_name: str, timeout_s: float = 20.0) -> agent_pb2.LaunchWork:
        """The launch of ``work_name`` (waits for it)."""
        return wait_until(lambda: next((c.launch for c in self.commands()
                                        if c.WhichOneof("kind") == "launch" and c.launch.work_name == work_name),
                                       None), timeout_s, what=f"the launch of {work_name}")

    def rejections(self) -> list[agent_pb2.EventRejected]:
        """Every EventRejected received so far."""
        return [m.rejected for m in list(self.received) if m.WhichOneof("kind") == "rejected"]

    def acks(self, work_name: str) -> list[int]:
        """The acknowledged seqs of ``work_name``, in order."""
        return [m.ack.seq for m in list(self.received)
                if m.WhichOneof("kind") == "ack" and m.ack.work_name == work_name]

    def wait_closed(self, timeout_s: float = 15.0) -> tuple[grpc.StatusCode | None, str]:
        """How the control plane ended the stream (waits for it)."""
        wait_until(self.closed.is_set, timeout_s, what="the control plane to end the stream")
        return self.code, self.details

    def close(self) -> None:
        """End the stream from this side."""
        self._outgoing.put(None)
        self._channel.close()
