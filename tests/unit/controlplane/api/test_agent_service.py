"""AgentServicer's reading of an agent's stream, driven directly with a stand-in for the stream (no server)."""

from __future__ import annotations

import asyncio
import time

import grpc

from lightning_ctl.controlplane.agents.placement import AgentCapacity
from lightning_ctl.controlplane.agents.registry import AgentRegistry, AgentSession
from lightning_ctl.controlplane.api.agent_service import AgentServicer
from lightning_ctl.controlplane.credential_store import CredentialStore
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import agent_pb2, events_pb2


class Stream:
    """Stands for the servicer's context: hands out the given messages, then the end of the stream."""

    def __init__(self, messages: list[object]) -> None:
        self._messages = list(messages)

    async def read(self) -> object:
        return self._messages.pop(0) if self._messages else grpc.aio.EOF


def test_events_prove_an_agent_alive_as_heartbeats_do() -> None:
    """An agent whose stream carries events is not silent, even when its heartbeat waits behind them: every
    message counts for liveness (an overloaded control plane must not cut off the agents that feed it)."""
    registry = AgentRegistry()
    delivered: list[object] = []
    servicer = AgentServicer(registry, delivered.append, lambda *args: None, CredentialStore("operator-token-0123456"))
    session = AgentSession(AgentCapacity("a1", "a1", 1, 2**30, ()), hostname="h")
    session.last_heartbeat = time.monotonic() - 60
    registry.locations.place("root.w", 1, "a1", frozenset({"count"}))
    event = events_pb2.WorkEvent(work_name="root.w", attempt=1, seq=1, delta=events_pb2.VarsDelta(values={"count": "1"}))
    stream = Stream([agent_pb2.AgentMessage.FromString(codec.agent_events_message([event.SerializeToString()]))])
    asyncio.run(servicer._read_messages(session, stream))  # type: ignore[arg-type]
    assert len(delivered) == 1 and time.monotonic() - session.last_heartbeat < 5
    registry.agents[session.agent_id] = session
    registry.check_liveness(timeout_s=6)
    assert "a1" in registry.agents

