"""AgentServicer: the control plane's end of each agent's stream.

    register ─► identity checked (credential, certificate, protocol version) ─► welcome ─► events / heartbeats
                                                                                       ◄─ commands, acks, rejections

A stream's identity is fixed by its first message: the agent_id its credential belongs to (a join token issues
the credential here, handed over in the welcome). Each work event passes the :class:`EventGate`; a malformed
message of the stream itself ends it with INVALID_ARGUMENT naming the problem, never with OK.
"""

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
from lightning_ctl.controlplane.api.aborts import abort
from lightning_ctl.controlplane.api.connection_limits import REGISTER_TIMEOUT_S
from lightning_ctl.controlplane.api.event_gate import EventGate
from lightning_ctl.controlplane.api.interceptors import current_principal, peer_certificate
from lightning_ctl.controlplane.api.tunnels import TunnelBroker
from lightning_ctl.controlplane.credential_store import (
    AgentRecord,
    CredentialStore,
    Principal,
    Role,
    with_labels,
)
from lightning_ctl.controlplane.errors import (
    CredentialError,
    CredentialForbiddenError,
    CredentialRefusedError,
)
from lightning_ctl.controlplane.output.dedup import OutputDeduplicator
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import agent_pb2, agent_pb2_grpc
from lightning_ctl.protos.limits import DEFAULT_MAX_ATTRIBUTE_BYTES
from lightning_ctl.protos.transport import PROTOCOL_VERSION
from lightning_ctl.sdk._agent_messages import EventRejected, OpenTunnel, Registration, Welcome
from lightning_ctl.sdk._events import (
    AgentConnected,
    Command,
    EventsApplied,
    LinesLogged,
    OutputShown,
    ProcessExited,
    StopWork,
    WorkEndpoint,
    WorkEvent,
)
from lightning_ctl.sdk._tasks import race

log = structlog.get_logger(component="agent_service")

_MAX_COMMANDS_PER_MESSAGE = 1000
OUTPUT_ACK_INTERVAL_S = 0.1
_CLAIM_STOP_GRACE_S = 30.0


class StreamViolation(Exception):
    """The agent's stream broke the protocol: it ends with INVALID_ARGUMENT and this message."""


class AgentServicer(agent_pb2_grpc.AgentServiceServicer):
    """Registers agents, relays their work events to the flow loop and their commands to them."""

    def __init__(
        self,
        registry: AgentRegistry,
        deliver: Callable[[WorkEvent | AgentConnected | list[WorkEvent]], None],
        print_lines: Callable[[str, LinesLogged, Callable[[], None]], None],
        credentials: CredentialStore,
        heartbeat_interval_s: float = 2.0,
        max_attribute_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES,
    ) -> None:
        self._registry = registry
        self._deliver = deliver
        self._print_lines = print_lines
        self._credentials = credentials
        self.heartbeat_interval_s = heartbeat_interval_s
        self.gate = EventGate(registry, max_attribute_bytes)
        self._output = OutputDeduplicator()
        self.tunnels = TunnelBroker(registry)
        """Connections to works' servers through their agents (the HTTP proxy's)."""

    async def Connect(self, request_iterator: object, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        """An agent's stream: its registration, heartbeats and events in; launches, calls and acks out."""
        principal = current_principal.get()
        if principal is None:
            await abort(context, grpc.StatusCode.UNAUTHENTICATED, "no credential")
        try:
            first = await asyncio.wait_for(context.read(), REGISTER_TIMEOUT_S)
        except asyncio.TimeoutError:
            await abort(context, grpc.StatusCode.DEADLINE_EXCEEDED,
                                f"a stream must register within {REGISTER_TIMEOUT_S:g}s of opening")
        if first is grpc.aio.EOF or first.WhichOneof("kind") != "register":
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, "the first message of a stream must be register")
        try:
            registration = codec.registration_from_pb(first.register)
        except codec.CodecError as exc:
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if registration.protocol_version != PROTOCOL_VERSION:
            await abort(
                context,
                grpc.StatusCode.FAILED_PRECONDITION,
                f"agent {registration.name} speaks protocol version {registration.protocol_version}; this control "
                f"plane speaks version {PROTOCOL_VERSION}: run the same lightning-ctl version on both",
            )
        try:
            credential, record = self._identify(principal, registration, peer_certificate(context))
        except CredentialRefusedError as exc:
            await abort(context, grpc.StatusCode.UNAUTHENTICATED, f"credential refused: {exc}")
        except CredentialError as exc:
            await abort(context, grpc.StatusCode.PERMISSION_DENIED, str(exc))
        session = self._session(registration, record)
        closed = asyncio.Event()
        close_reason: list[str] = []

        def close(reason: str) -> None:
            close_reason.append(reason)
            closed.set()

        session.close = close
        welcome = Welcome(uuid.uuid4().hex, self.heartbeat_interval_s, credential, self.gate.max_attribute_bytes,
                          PROTOCOL_VERSION)
        await context.write(codec.control_message_to_pb(welcome))
        accepted, refused = self._registry.locations.split_claims(session.agent_id, registration.running)
        expected = self._registry.placed_on(session.agent_id)
        self._registry.add(session, accepted)
        for work in refused:  # not this agent's to run: a copy left from elsewhere, or a lie
            session.outgoing.put_nowait(StopWork(work.work_name, work.attempt,
                                                 "not placed on this agent by this control plane", _CLAIM_STOP_GRACE_S))
        self._deliver(AgentConnected(session.agent_id, accepted, expected))
        ended: asyncio.Future[None] | None = None
        try:
            ended = await race(self._read_messages(session, context), self._write_commands(session, context),
                               closed.wait(), self._acknowledge_output(session))
        finally:
            self._registry.remove(session, close_reason[0] if close_reason else _why_ended(ended))
        if ended is not None and not ended.cancelled() and isinstance(violation := ended.exception(), StreamViolation):
            await abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(violation))
        if self._credentials.agent(session.agent_id).revoked_at is not None:
            await abort(context, grpc.StatusCode.UNAUTHENTICATED,
                                f"credential refused: the credential of agent {session.name} was revoked")

    def _identify(self, principal: Principal, registration: Registration, cert_sha256: str) -> tuple[str, AgentRecord]:
        """The new credential (after a join; "" otherwise) and the record of the agent registering.

        Raises:
            CredentialError: the credential may not register this agent (another agent's id, another certificate,
                a join token for another name, a claim to be the local agent).
        """
        if principal.role is Role.JOIN:
            credential, record = self._credentials.join(principal.subject, registration.agent_id, registration.name,
                                                        cert_sha256)
        else:
            credential, record = "", self._credentials.check_agent(principal, registration.agent_id, cert_sha256)
        if registration.is_local and not record.grant.is_local:
            raise CredentialForbiddenError("only lightning-ctl's own local agent may register as local")
        return credential, record

    def _session(self, registration: Registration, record: AgentRecord) -> AgentSession:
        capacity = AgentCapacity(
            agent_id=registration.agent_id,
            name=registration.name,
            cpus=registration.cpus,
            memory_bytes=registration.memory_bytes,
            gpu_indices=tuple(g.index for g in registration.gpus),
            labels=with_labels(registration.labels, record.grant),
            is_local=record.grant.is_local,
            ports=registration.ports,
        )
        return AgentSession(capacity, registration.hostname, scope=record.grant.scope)

    async def _read_messages(self, session: AgentSession, context: grpc.aio.ServicerContext) -> None:
        # An agent sends nothing after its registration before it has kept the credential its welcome carried.
        held = False
        while (message := await context.read()) is not grpc.aio.EOF:
            if not held:
                self._credentials.credential_held(session.agent_id)
                held = True
            self._registry.heard(session)  # any message is a sign of life, on a slow link too
            kind = message.WhichOneof("kind")
            if kind == "events":
                self._on_events(message.events, session)
            elif kind == "heartbeat":
                try:
                    session.usage = codec.usage_from_pb(message.heartbeat)
                except codec.CodecError as exc:
                    raise StreamViolation(f"agent {session.name}: {exc}") from None
            elif kind == "register":
                raise StreamViolation(f"register may only be the first message of a stream; this one is agent "
                                      f"{session.name}'s (its identity is fixed at registration)")
            else:
                raise StreamViolation("an agent message with no kind (register, heartbeat or events)")

    async def _agent_id(self, context: grpc.aio.ServicerContext) -> str:
        """The id of the agent whose credential opened this call (the call is aborted for any other credential)."""
        principal = current_principal.get()
        try:
            if principal is None:
                raise CredentialRefusedError("no credential")
            self._credentials.check_agent(principal, principal.subject, peer_certificate(context))
        except CredentialError as exc:
            await abort(context, grpc.StatusCode.PERMISSION_DENIED, str(exc))
        return principal.subject

    async def Tunnel(self, request_iterator: object, context: grpc.aio.ServicerContext) -> None:  # noqa: N802
        """A byte stream between the HTTP proxy and a work's server on the calling agent's host."""
        await self.tunnels.serve(await self._agent_id(context), context)

    async def FetchBundle(  # noqa: N802
        self, request: agent_pb2.FetchBundleRequest, context: grpc.aio.ServicerContext
    ) -> None:
        """Stream the app's code bundle (by digest) to an agent presenting its own credential."""
        agent_id = await self._agent_id(context)
        bundle = self._registry.bundle.built if self._registry.bundle else None
        if bundle is None or bundle.digest != request.digest:
            await abort(context, grpc.StatusCode.NOT_FOUND, f"no code bundle with digest {request.digest[:80]!r}")
        log.info("bundle_sent", digest=bundle.digest[:12], bytes=len(bundle.data), agent_id=agent_id)
        for chunk in iter_chunks(bundle.data):
            await context.write(agent_pb2.BundleChunk(data=chunk, total_bytes=len(bundle.data)))

    async def _acknowledge_output(self, session: AgentSession) -> None:
        """Tell the agent how much of each work's output has been shown.

        Every OUTPUT_ACK_INTERVAL_S while output comes or is being written; no timer while there is nothing to
        acknowledge (a fleet's idle agents).
        """
        sent: dict[tuple[str, int], tuple[int, int]] = {}
        while True:
            await session.output_arrived.wait()
            await asyncio.sleep(OUTPUT_ACK_INTERVAL_S)
            session.output_arrived.clear()
            for key in list(session.output_seen):
                offsets = self._output.shown(*key)
                if sent.get(key) != offsets:
                    sent[key] = offsets
                    session.outgoing.put_nowait(OutputShown(key[0], key[1], *offsets))
                if self._output.is_behind(*key):
                    session.output_arrived.set()  # the console has yet to write some: acknowledged next time

    def _on_events(self, events: agent_pb2.WorkEvents, session: AgentSession) -> None:
        # The message's events go to the flow loop together, in order: one put, one wake of the flow thread (woken
        # by the first of several, it would only wait for this thread to finish the rest).
        delivered: list[WorkEvent] = []
        for pb in events.events:
            verdict = self.gate.admit(session.agent_id, pb)
            if verdict.rejected is not None:
                session.outgoing.put_nowait(verdict.rejected)
            event = verdict.deliver
            if event is None:
                continue
            if isinstance(event.body, LinesLogged):
                session.output_seen.add((event.work_name, event.attempt))
                session.output_arrived.set()
                fresh = self._output.fresh(event.work_name, event.attempt, event.body)
                if fresh is not None:
                    self._print_lines(event.work_name, fresh, functools.partial(
                        self._output.written, event.work_name, event.attempt, fresh.stream, fresh.end_offset))
                continue
            if isinstance(event.body, ProcessExited):
                self._registry.release(event.work_name, event.attempt)
                self._registry.serving.forget(event.work_name, event.attempt)
            elif isinstance(event.body, WorkEndpoint):
                self._registry.serving.record(session.agent_id, event.work_name, event.attempt, event.body)
            delivered.append(event)
        if delivered:
            self._deliver(delivered)

    async def _write_commands(self, session: AgentSession, context: grpc.aio.ServicerContext) -> None:
        queue = session.outgoing
        while True:
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < _MAX_COMMANDS_PER_MESSAGE:
                batch.append(queue.get_nowait())
            commands: list[Command | OpenTunnel] = [c for c in batch if not isinstance(c, _NOT_COMMANDS)]
            if commands:
                await context.write(codec.control_message_to_pb(commands))
            for item in batch:
                if isinstance(item, _NOT_COMMANDS):
                    await context.write(codec.control_message_to_pb(item))


_NOT_COMMANDS = (EventsApplied, OutputShown, EventRejected)


def _why_ended(first: asyncio.Future[None] | None) -> str:
    """Why an agent's stream ended, from the first of its tasks to end (None: the call itself was cancelled)."""
    if first is None or first.cancelled():
        return "the stream was cancelled (transport failure or shutdown)"
    error = first.exception()
    if error is not None:
        return f"the connection failed ({type(error).__name__}: {error})"
    return "the agent closed its stream"
