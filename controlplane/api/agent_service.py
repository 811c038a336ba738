"""AgentServicer: the control plane's end of each agent's stream."""

from __future__ import annotations

import asyncio
import functools
import uuid
from typing import Callable

import grpc
import structlog

from lightning_ctl.controlplane.agents.bundles import iter_chunks
from lightning_ctl.controlplane.agents.placement import AgentCapacity
from lightning_ctl.controlplane.agents.registry import AgentRegistry, AgentSession
from lightning_ctl.controlplane.api.connection_limits import REGISTER_TIMEOUT_S
from lightning_ctl.controlplane.output.dedup import OutputDeduplicator
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import agent_pb2, agent_pb2_grpc
from lightning_ctl.sdk._events import (
    AgentConnected,
    EventsApplied,
    LinesLogged,
    OutputShown,
    ProcessExited,
    RunningWork,
    WorkEvent,
)
from lightning_ctl.sdk._tasks import race

log = structlog.get_logger(component="agent_service")

_MAX_COMMANDS_PER_MESSAGE = 1000
OUTPUT_ACK_INTERVAL_S = 0.1


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    """Registers agents, relays their work events to the flow loop and their commands to them."""

    def __init__(
        self,
        registry: AgentRegistry,
        deliver: Callable[[WorkEvent | AgentConnected], None],
        print_lines: Callable[[str, LinesLogged, Callable[[], None]], None],
        heartbeat_interval_s: float = 2.0,
    ) -> None:
        self._registry = registry
        self._deliver = deliver
        self._print_lines = print_lines
        self.heartbeat_interval_s = heartbeat_interval_s
        self._output = OutputDeduplicator()

    async def Connect(self, request_iterator: object, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        try:
            first = await asyncio.wait_for(context.read(), REGISTER_TIMEOUT_S)
        except asyncio.TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                f"a stream must register within {REGISTER_TIMEOUT_S:g}s of opening")
        if first is grpc.aio.EOF or first.WhichOneof("kind") != "register":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message of a stream must be register")
        register = first.register
        if not register.agent_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "register.agent_id: missing")
        capacity = AgentCapacity(
            agent_id=register.agent_id,
            name=register.name or register.hostname,
            cpus=register.resources.cpus,
            memory_bytes=register.resources.memory_bytes,
            gpu_indices=tuple(g.index for g in register.resources.gpus),
            labels=dict(register.labels),
            is_local=register.is_local,
        )
        session = AgentSession(capacity, register.hostname)
        closed = asyncio.Event()
        close_reason: list[str] = []
        session.close = lambda reason: (close_reason.append(reason), closed.set())
        await context.write(
            agent_pb2.ControlMessage(
                welcome=agent_pb2.Welcome(session_id=uuid.uuid4().hex, heartbeat_interval_s=self.heartbeat_interval_s)
            )
        )
        running = tuple(
            RunningWork(r.work_name, r.attempt, r.pid, tuple(r.gpu_indices)) for r in register.running
        )
        expected = self._registry.placed_on(session.agent_id)
        self._registry.add(session, running)
        self._deliver(AgentConnected(session.agent_id, running, expected))
        ended: asyncio.Future[None] | None = None
        try:
            ended = await race(self._read_messages(session, context), self._write_commands(session, context),
                               closed.wait(), self._acknowledge_output(session))
        finally:
            self._registry.remove(session, close_reason[0] if close_reason else _why_ended(ended))

    async def _read_messages(self, session: AgentSession, context: grpc.aio.ServicerContext) -> None:
        while (message := await context.read()) is not grpc.aio.EOF:
            self._registry.heard(session)  # any message is a sign of life, on a slow link too
            if message.WhichOneof("kind") == "events":
                self._on_events(message.events, session)

    async def FetchBundle(  # noqa: N802
        self, request: agent_pb2.FetchBundleRequest, context: grpc.aio.ServicerContext
    ) -> None:
        bundle = self._registry.bundle.built if self._registry.bundle else None
        if bundle is None or bundle.digest != request.digest:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no code bundle with digest {request.digest!r}")
        log.info("bundle_sent", digest=bundle.digest[:12], bytes=len(bundle.data))
        for chunk in iter_chunks(bundle.data):
            await context.write(agent_pb2.BundleChunk(data=chunk, total_bytes=len(bundle.data)))

    async def _acknowledge_output(self, session: AgentSession) -> None:
        """Tell the agent, every OUTPUT_ACK_INTERVAL_S, how much of each work's output has been shown."""
        sent: dict[tuple[str, int], tuple[int, int]] = {}
        while True:
            await asyncio.sleep(OUTPUT_ACK_INTERVAL_S)
            for key in list(session.output_seen):
                offsets = self._output.shown(*key)
                if sent.get(key) != offsets:
                    sent[key] = offsets
                    session.outgoing.put_nowait(OutputShown(key[0], key[1], *offsets))

    def _on_events(self, events: agent_pb2.WorkEvents, session: AgentSession) -> None:
        for pb in events.events:
            event = codec.event_from_pb(pb)
            if isinstance(event.body, LinesLogged):
                session.output_seen.add((event.work_name, event.attempt))
                fresh = self._output.fresh(event.work_name, event.attempt, event.body)
                if fresh is not None:
                    self._print_lines(event.work_name, fresh, functools.partial(
                        self._output.written, event.work_name, event.attempt, fresh.stream, fresh.end_offset))
                continue
            if isinstance(event.body, ProcessExited):
                self._registry.release(event.work_name, event.attempt)
            self._deliver(event)

    async def _write_commands(self, session: AgentSession, context: grpc.aio.ServicerContext) -> None:
        queue = session.outgoing
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < _MAX_COMMANDS_PER_MESSAGE:
                batch.append(queue.get_nowait())
            commands = [codec.command_to_pb(c) for c in batch if not isinstance(c, (EventsApplied, OutputShown))]
            if commands:
                await context.write(agent_pb2.ControlMessage(commands=agent_pb2.Commands(commands=commands)))
            for ack in (c for c in batch if isinstance(c, EventsApplied)):
                await context.write(agent_pb2.ControlMessage(
                    ack=agent_pb2.EventAck(work_name=ack.work_name, attempt=ack.attempt, seq=ack.seq)))
            for shown in (c for c in batch if isinstance(c, OutputShown)):
                await context.write(agent_pb2.ControlMessage(output_ack=agent_pb2.OutputAck(
                    work_name=shown.work_name, attempt=shown.attempt, stdout_offset=shown.stdout_offset,
                    stderr_offset=shown.stderr_offset)))


def _why_ended(first: asyncio.Future[None] | None) -> str:
    """Why an agent's stream ended, from the first of its tasks to end (None: the call itself was cancelled)."""
    if first is None or first.cancelled():
        return "the stream was cancelled (transport failure or shutdown)"
    error = first.exception()
    if error is not None:
        return f"the connection failed ({type(error).__name__}: {error})"
    return "the agent closed its stream"
