"""AgentSession: the agent's stream to the control plane: register, heartbeat, send events, take commands.

    connect ─► register (agent credential, or the join token the first time) ─► welcome (keeps a new credential)
            ─► events, heartbeats ──► ... ◄── commands, acks, rejections ─► broken: reconnect with backoff

The stream is re-opened with jittered backoff whenever it breaks. A refusal that retrying cannot fix (an unknown
or revoked credential with no join token left to try, another protocol version, an invalid registration) ends
the agent with :class:`RegistrationRefusedError` and its exit status. Work events leave as the bytes the work
processes wrote: this module never decodes them.
"""

from __future__ import annotations

import asyncio
import random
import socket
import uuid
from pathlib import Path
from typing import AsyncIterator

import grpc
import structlog

from lightning_ctl.agent.daemon import AgentDaemon
from lightning_ctl.agent.errors import RegistrationRefusedError
from lightning_ctl.agent.home import AgentHome
from lightning_ctl.agent.inventory import Inventory, measure_usage
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import agent_pb2, agent_pb2_grpc
from lightning_ctl.protos.limits import BATCH_BYTES
from lightning_ctl.protos.transport import PROTOCOL_VERSION, agent_channel_options
from lightning_ctl.sdk._agent_messages import EventRejected, GpuDevice, Registration, Welcome
from lightning_ctl.sdk._events import EventsApplied, OutputShown, RunningWork
from lightning_ctl.sdk._exit_codes import ExitCode
from lightning_ctl.sdk._tasks import race

log = structlog.get_logger(component="session")

_CONNECT_TIMEOUT_S = 5.0
_MAX_EVENTS_PER_MESSAGE = 1000
_CONNECT_METHOD = "/lightning.v1.AgentService/Connect"
_ADDRESS_POLL_S = 0.5
_FATAL_AT_REGISTRATION = {
    grpc.StatusCode.PERMISSION_DENIED: ExitCode.AUTH_REFUSED,
    grpc.StatusCode.UNAUTHENTICATED: ExitCode.AUTH_REFUSED,
    grpc.StatusCode.FAILED_PRECONDITION: ExitCode.FAILED,
    grpc.StatusCode.INVALID_ARGUMENT: ExitCode.FAILED,
}
"""Refusals of a registration that trying again cannot fix, and the exit status they end the agent with."""


class AgentSession:
    """Keeps one stream open to the control plane at ``address`` and relays between it and the daemon."""

    def __init__(
        self,
        address: str,
        daemon: AgentDaemon,
        inventory: Inventory,
        home: AgentHome,
        join_token: str = "",
        name: str | None = None,
        labels: dict[str, str] | None = None,
        agent_id: str | None = None,
        is_local: bool = False,
        tls: tuple[bytes | None, bytes | None, bytes | None] | None = None,
        address_file: str | None = None,
    ) -> None:
        self.address = address
        self._daemon = daemon
        self._inventory = inventory
        self._home = home
        self._join_token = join_token
        self.name = name or socket.gethostname()
        self._labels = labels or {}
        self.agent_id = agent_id or uuid.uuid4().hex
        self.heartbeat_interval_s = 2.0
        self._is_local = is_local
        self._tls = tls
        self._address_file = address_file
        self.sessions_started = 0
        self._write_lock = asyncio.Lock()  # one write at a time: grpc.aio breaks a stream written concurrently
        self._stub: agent_pb2_grpc.AgentServiceStub | None = None
        self._credential = ""
        self._joining = False
        """The stored credential was refused: the next registration presents the join token."""
        daemon.fetch_bundle = self.fetch_bundle
        daemon.open_tunnel_call = self.open_tunnel_call
        self.log = log.bind(agent_id=self.agent_id, control_plane=address)

    def _registration(self) -> Registration:
        inv = self._inventory
        endpoints = self._daemon.endpoints
        ports = endpoints.allocator.ports
        return Registration(
            agent_id=self.agent_id,
            name=self.name,
            hostname=socket.gethostname(),
            cpus=inv.cpus,
            memory_bytes=inv.memory_bytes,
            gpus=tuple(GpuDevice(g.index, g.uuid, g.name, g.memory_bytes) for g in inv.gpus),
            labels=self._labels,
            protocol_version=PROTOCOL_VERSION,
            is_local=self._is_local,
            running=tuple(
                RunningWork(s.launch.work_name, s.launch.attempt, s.pid or 0, tuple(s.launch.gpu_indices),
                            endpoints.allocator.port_of((s.launch.work_name, s.launch.attempt)) or 0)
                for s in self._daemon.supervisors.values()
                if s.pid and not s.exited.is_set()
            ),
            advertise_address=endpoints.advertise_address,
            ports=(ports.first, ports.last) if ports else None,
        )

    def _channel(self, address: str) -> grpc.aio.Channel:
        if self._tls is None:
            return grpc.aio.insecure_channel(address, options=agent_channel_options())
        ca, key, cert = self._tls
        credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
        return grpc.aio.secure_channel(address, credentials, options=agent_channel_options())

    def _followed_address(self) -> str:
        """The control plane's address: as written in ``address_file`` when there is one (it may move)."""
        if self._address_file is not None:
            try:
                written = Path(self._address_file).read_text().strip()
                if written:
                    return written
            except OSError:
                pass
        return self.address

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self._credential}"),)

    async def run_forever(self) -> None:
        """Connect, and reconnect with jittered backoff (0.25 s doubling to about 2 s) whenever the stream ends.

        Raises:
            RegistrationRefusedError: the control plane refused this agent for good.
        """
        backoff_s = 0.25
        while True:
            self.address = self._followed_address()
            async with self._channel(self.address) as channel:
                self._stub = agent_pb2_grpc.AgentServiceStub(channel)
                connect = channel.stream_stream(_CONNECT_METHOD, request_serializer=codec.serialize_agent_message,
                                                response_deserializer=agent_pb2.ControlMessage.FromString)
                while True:
                    try:
                        await self._wait_ready(channel)
                        if self._followed_address() != self.address:
                            self.log.info("control_plane_moved", address=self._followed_address())
                            break  # a channel to the new address, not a stream waiting on the old one
                        await self._run_stream(channel, connect)
                        backoff_s = 0.25
                    except _Refused as refused:
                        if self._may_join_instead(refused.error):
                            continue  # at once, with the join token
                        if self._address_file is None:
                            raise self._fatal(refused.error) from None
                        # A local agent meeting a control plane that is not its app's (its own restarted on another
                        # port, and another app took this one): it waits for its own to say where it is.
                        self.log.error("refused_by_control_plane", details=refused.error.details(),
                                       next="waiting for this app's control plane to move")
                        await self._address_changes()
                        break
                    except grpc.aio.AioRpcError as exc:
                        self.log.warning("stream_broken", code=exc.code().name, details=exc.details())
                    except (asyncio.InvalidStateError, ConnectionError, OSError) as exc:
                        # A write racing the stream's end, or the transport going: reconnect, never give up.
                        self.log.warning("stream_broken", error=f"{type(exc).__name__}: {exc}")
                    delay = backoff_s * random.uniform(0.8, 1.2)
                    self.log.info("reconnecting", delay_s=round(delay, 3))
                    await asyncio.sleep(delay)
                    backoff_s = min(backoff_s * 2, 2.0)
                    if self._followed_address() != self.address:
                        self.log.info("control_plane_moved", address=self._followed_address())
                        break

    def _may_join_instead(self, error: grpc.aio.AioRpcError) -> bool:
        """Whether a refused stored credential should give way to the join token.

        It does when the control plane does not know the credential (another app, or one whose credentials
        were reset); a revoked agent is refused the join too.
        """
        if error.code() != grpc.StatusCode.UNAUTHENTICATED or not self._join_token or self._joining:
            return False
        self.log.warning("credential_refused", details=error.details(), next="joining with the join token")
        self._joining = True
        return True

    async def _address_changes(self) -> None:
        # The address file is rewritten by another process (a restarted control plane): poll it.
        while self._followed_address() == self.address:  # noqa: ASYNC110
            await asyncio.sleep(_ADDRESS_POLL_S)

    def _fatal(self, error: grpc.aio.AioRpcError) -> RegistrationRefusedError:
        code = _FATAL_AT_REGISTRATION[error.code()]
        hint = ""
        if code == ExitCode.AUTH_REFUSED:
            hint = (" (give a fresh join token: LIGHTNING_AGENT_JOIN_TOKEN=$(lightning-ctl agents join-token) on the "
                    "control plane's machine)")
        return RegistrationRefusedError(f"the control plane at {self.address} refused this agent: {error.details()}"
                                        f"{hint}", address=self.address, exit_code=code)

    async def _wait_ready(self, channel: grpc.aio.Channel) -> None:
        """Wait until the channel connects, saying so (once per episode) while it cannot.

        It cannot while the control plane is down, unreachable, or refuses this agent's TLS (no client
        certificate, wrong CA).
        """
        warned = False
        while True:
            try:
                await asyncio.wait_for(channel.channel_ready(), timeout=_CONNECT_TIMEOUT_S)
                return
            except asyncio.TimeoutError:
                if not warned:
                    warned = True
                    hint = "TLS handshake refused? check --tls-ca/--tls-cert/--tls-key" if self._tls else (
                        "is it running? (a control plane serving TLS needs --tls-ca)")
                    self.log.warning("cannot_connect", address=self.address, state=str(
                        channel.get_state(try_to_connect=True)), hint=hint)
                if self._followed_address() != self.address:
                    return  # the control plane moved: the caller reconnects there

    def open_tunnel_call(self) -> grpc.aio.StreamStreamCall:
        """A new Tunnel stream to the control plane, with this agent's credential.

        Raises:
            ConnectionError: not connected.
        """
        if self._stub is None:
            raise ConnectionError("not connected to the control plane")
        return self._stub.Tunnel(metadata=self._metadata())

    async def fetch_bundle(self, digest: str) -> AsyncIterator[bytes]:
        """The chunks of the code bundle ``digest``, from the control plane."""
        if self._stub is None:
            raise ConnectionError("not connected to the control plane")
        call = self._stub.FetchBundle(agent_pb2.FetchBundleRequest(digest=digest), metadata=self._metadata())
        async for chunk in call:
            yield chunk.data

    async def _run_stream(self, channel: grpc.aio.Channel, connect: grpc.aio.StreamStreamMultiCallable) -> None:
        stored = "" if self._joining else self._home.load_credential()
        self._credential = stored or self._join_token
        self._joining = not stored
        if not self._credential:
            raise RegistrationRefusedError("no credential: give a join token (--join-token, or "
                                           "LIGHTNING_AGENT_JOIN_TOKEN; `lightning-ctl agents join-token` issues one)",
                                           address=self.address, exit_code=ExitCode.USAGE)
        call = connect(metadata=self._metadata(), wait_for_ready=True)
        try:
            await call.write(codec.register_message(self._registration()))
            welcome = codec.control_message_from_pb(reply) if (reply := await call.read()) is not grpc.aio.EOF else None
        except grpc.aio.AioRpcError as exc:
            if exc.code() in _FATAL_AT_REGISTRATION:
                raise _Refused(exc) from None
            raise
        if not isinstance(welcome, Welcome):
            raise ConnectionError("the control plane did not welcome the agent")
        self._welcomed(welcome)
        self._daemon.storage.use_channel(channel, self._metadata())  # with the agent's credential, never a join token
        self.sessions_started += 1
        self._daemon.resend_unacknowledged()  # whatever the last session did not confirm goes again
        try:
            first = await race(self._send_events(call), self._heartbeat(call), self._receive(call))
            first.result()  # its error, if it failed, is why the stream ended
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:  # revoked while connected
                raise _Refused(exc) from None
            raise
        finally:
            call.cancel()

    def _welcomed(self, welcome: Welcome) -> None:
        if welcome.agent_credential:
            self._home.save_credential(welcome.agent_credential)
            self._credential = welcome.agent_credential
            self.log.info("agent_joined", credential_file=str(self._home.credential_file))
        self._joining = False
        self.heartbeat_interval_s = welcome.heartbeat_interval_s or self.heartbeat_interval_s
        self._daemon.set_max_attribute_bytes(welcome.max_attribute_bytes)
        self.log.info("agent_registered", session_id=welcome.session_id)

    async def _send_events(self, call: grpc.aio.StreamStreamCall) -> None:
        queue = self._daemon.outbox.queue
        while True:
            first = await queue.get()
            batch, size = [first.payload], len(first.payload)
            while not queue.empty() and len(batch) < _MAX_EVENTS_PER_MESSAGE and size < BATCH_BYTES:
                batch.append(queue.get_nowait().payload)
                size += len(batch[-1])
            async with self._write_lock:
                await call.write(codec.agent_events_message(batch))

    async def _heartbeat(self, call: grpc.aio.StreamStreamCall) -> None:
        """Heartbeat at once (the control plane measures the link's round trip on it), then every period."""
        while True:
            usage = await asyncio.to_thread(measure_usage)
            async with self._write_lock:
                await call.write(codec.heartbeat_message(usage))
            await asyncio.sleep(self.heartbeat_interval_s)

    async def _receive(self, call: grpc.aio.StreamStreamCall) -> None:
        while True:
            message = await call.read()
            if message is grpc.aio.EOF:
                return
            try:
                item = codec.control_message_from_pb(message)
            except codec.CodecError as exc:
                self.log.error("control_message_refused", error=str(exc))
                continue
            if isinstance(item, list):
                for command in item:
                    self._daemon.handle(command)
            elif isinstance(item, EventsApplied):
                self._daemon.acknowledge(item.work_name, item.attempt, item.seq)
            elif isinstance(item, OutputShown):
                self._daemon.confirm_output(item.work_name, item.attempt, item.stdout_offset, item.stderr_offset)
            elif isinstance(item, EventRejected):
                self.log.warning("event_rejected", work_name=item.work_name, attempt=item.attempt, seq=item.seq,
                                 code=item.code, reason=item.message)


class _Refused(Exception):
    """The control plane refused the registration (or the credential, later): maybe for good."""

    def __init__(self, error: grpc.aio.AioRpcError) -> None:
        super().__init__(error.details())
        self.error = error
