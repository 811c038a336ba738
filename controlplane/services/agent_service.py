"""AgentServicer: the control plane's end of each agent's stream."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Callable

import grpc
import structlog

from controlplane.registry import AgentRegistry, AgentSession
from protos import codec
from protos.lightning.v1 import agent_pb2, agent_pb2_grpc
from sdk._events import LinesLogged, WorkEvent

log = structlog.get_logger(component="agent_service")

HEARTBEAT_INTERVAL_S = 2.0
_MAX_COMMANDS_PER_MESSAGE = 1000


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    """Registers agents, relays their work events to the flow loop and their commands to them."""

    def __init__(
        self,
        registry: AgentRegistry,
        deliver: Callable[[WorkEvent], None],
        print_lines: Callable[[str, LinesLogged], None],
    ) -> None:
        self._registry = registry
        self._deliver = deliver
        self._print_lines = print_lines

    async def Connect(self, request_iterator: object, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        first = await context.read()
        if first is grpc.aio.EOF or first.WhichOneof("kind") != "register":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message of a stream must be register")
        register = first.register
        session = AgentSession(
            agent_id=register.agent_id,
            name=register.name,
            hostname=register.hostname,
            cpus=register.resources.cpus,
            memory_bytes=register.resources.memory_bytes,
            gpu_indices=tuple(g.index for g in register.resources.gpus),
            labels=dict(register.labels),
        )
        await context.write(
            agent_pb2.ControlMessage(
                welcome=agent_pb2.Welcome(session_id=uuid.uuid4().hex, heartbeat_interval_s=HEARTBEAT_INTERVAL_S)
            )
        )
        self._registry.add(session)
        writer = asyncio.create_task(self._write_commands(session, context))
        try:
            while (message := await context.read()) is not grpc.aio.EOF:
                kind = message.WhichOneof("kind")
                if kind == "events":
                    self._on_events(message.events)
                elif kind == "heartbeat":
                    session.last_heartbeat = time.monotonic()
        finally:
            writer.cancel()
            self._registry.remove(session)

    def _on_events(self, events: agent_pb2.WorkEvents) -> None:
        for pb in events.events:
            event = codec.event_from_pb(pb)
            if isinstance(event.body, LinesLogged):
                self._print_lines(event.work_name, event.body)
            else:
                self._deliver(event)

    async def _write_commands(self, session: AgentSession, context: grpc.aio.ServicerContext) -> None:
        queue = session.outgoing
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < _MAX_COMMANDS_PER_MESSAGE:
                batch.append(queue.get_nowait())
            commands = agent_pb2.Commands(commands=[codec.command_to_pb(c) for c in batch])
            await context.write(agent_pb2.ControlMessage(commands=commands))
