"""AgentSession: the agent's stream to the control plane: register, heartbeat, send events, take commands.

The stream is re-opened with jittered backoff whenever it breaks. gRPC keepalive with an explicit ping timeout
notices a hung control plane in seconds (without ``grpc.http2.ping_timeout_ms`` it takes about a minute).
"""

from __future__ import annotations

import asyncio
import random
import socket
import uuid
from pathlib import Path
from typing import AsyncIterator

import grpc
import psutil
import structlog

from lightning_ctl.agent.daemon import AgentDaemon
from lightning_ctl.agent.inventory import Inventory
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import agent_pb2, agent_pb2_grpc, events_pb2
from lightning_ctl.sdk._tasks import race

log = structlog.get_logger(component="session")

PROTOCOL_VERSION = 1
_CONNECT_TIMEOUT_S = 5.0
_MAX_EVENTS_PER_MESSAGE = 1000
_MAX_MESSAGE_BYTES = 4 * 2**20  # far below the control plane's 64 MiB receive limit
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.http2.ping_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    ("grpc.max_receive_message_length", 64 * 2**20),
]


class AgentSession:
    """Keeps one stream open to the control plane at ``address`` and relays between it and the daemon."""

    def __init__(
        self,
        address: str,
        token: str,
        daemon: AgentDaemon,
        inventory: Inventory,
        name: str | None = None,
        labels: dict[str, str] | None = None,
        agent_id: str | None = None,
        is_local: bool = False,
        tls: tuple[bytes | None, bytes | None, bytes | None] | None = None,
        address_file: str | None = None,
    ) -> None:
        self.address = address
        self._token = token
        self._daemon = daemon
        self._inventory = inventory
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
        daemon.fetch_bundle = self.fetch_bundle
        self.log = log.bind(agent_id=self.agent_id, control_plane=address)

    def _register(self) -> agent_pb2.AgentMessage:
        inv = self._inventory
        resources = agent_pb2.Resources(
            cpus=inv.cpus,
            memory_bytes=inv.memory_bytes,
            gpus=[agent_pb2.GpuDevice(index=g.index, uuid=g.uuid, name=g.name, memory_bytes=g.memory_bytes)
                  for g in inv.gpus],
        )
        return agent_pb2.AgentMessage(
            register=agent_pb2.Register(
                agent_id=self.agent_id,
                name=self.name,
                hostname=socket.gethostname(),
                resources=resources,
                labels=self._labels,
                protocol_version=PROTOCOL_VERSION,
                is_local=self._is_local,
                running=[
                    agent_pb2.RunningWork(work_name=s.launch.work_name, attempt=s.launch.attempt, pid=s.pid or 0,
                                          gpu_indices=list(s.launch.gpu_indices))
                    for s in self._daemon.supervisors.values()
                    if s.pid and not s.exited.is_set()
                ],
            )
        )

    def _channel(self, address: str) -> grpc.aio.Channel:
        if self._tls is None:
            return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        ca, key, cert = self._tls
        credentials = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)
        return grpc.aio.secure_channel(address, credentials, options=CHANNEL_OPTIONS)

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

    async def run_forever(self) -> None:
        """Connect, and reconnect with jittered backoff (0.25 s doubling to about 2 s) whenever the stream ends."""
        backoff_s = 0.25
        while True:
            self.address = self._followed_address()
            async with self._channel(self.address) as channel:
                stub = self._stub = agent_pb2_grpc.AgentServiceStub(channel)
                while True:
                    try:
                        await self._wait_ready(channel)
                        await self._run_stream(stub)
                        backoff_s = 0.25
                    except grpc.aio.AioRpcError as exc:
                        if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                            raise PermissionError(f"the control plane at {self.address} refused the token") from None
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

    async def _wait_ready(self, channel: grpc.aio.Channel) -> None:
        """Wait until the channel connects, saying so (once per episode) while it cannot: the control plane is down,
        unreachable, or refuses this agent's TLS (no client certificate, wrong CA)."""
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

    async def fetch_bundle(self, digest: str) -> AsyncIterator[bytes]:
        """The chunks of the code bundle ``digest``, from the control plane."""
        if self._stub is None:
            raise ConnectionError("not connected to the control plane")
        call = self._stub.FetchBundle(
            agent_pb2.FetchBundleRequest(digest=digest), metadata=(("authorization", f"Bearer {self._token}"),)
        )
        async for chunk in call:
            yield chunk.data

    async def _run_stream(self, stub: agent_pb2_grpc.AgentServiceStub) -> None:
        call = stub.Connect(metadata=(("authorization", f"Bearer {self._token}"),), wait_for_ready=True)
        await call.write(self._register())
        welcome = await call.read()
        if welcome is grpc.aio.EOF or welcome.WhichOneof("kind") != "welcome":
            raise ConnectionError("the control plane did not welcome the agent")
        self.heartbeat_interval_s = welcome.welcome.heartbeat_interval_s or self.heartbeat_interval_s
        self.log.info("agent_registered", session_id=welcome.welcome.session_id)
        self.sessions_started += 1
        self._daemon.resend_unacknowledged()  # whatever the last session did not confirm goes again
        try:
            first = await race(self._send_events(call), self._heartbeat(call), self._receive(call))
            first.result()  # its error, if it failed, is why the stream ended
        finally:
            call.cancel()

    async def _send_events(self, call: grpc.aio.StreamStreamCall) -> None:
        queue = self._daemon.outbox.queue
        while True:
            batch: list[events_pb2.WorkEvent] = [await queue.get()]
            size = batch[0].ByteSize()
            while not queue.empty() and len(batch) < _MAX_EVENTS_PER_MESSAGE and size < _MAX_MESSAGE_BYTES:
                batch.append(queue.get_nowait())
                size += batch[-1].ByteSize()
            async with self._write_lock:
                await call.write(agent_pb2.AgentMessage(events=agent_pb2.WorkEvents(events=batch)))

    async def _heartbeat(self, call: grpc.aio.StreamStreamCall) -> None:
        """Heartbeat at once (the control plane measures the link's round trip on it), then every period."""
        while True:
            usage = await asyncio.to_thread(psutil.virtual_memory)
            async with self._write_lock:
                await call.write(
                    agent_pb2.AgentMessage(
                        heartbeat=agent_pb2.Heartbeat(
                            cpu_percent=psutil.cpu_percent(interval=None), memory_used_bytes=usage.used
                        )
                    )
                )
            await asyncio.sleep(self.heartbeat_interval_s)

    async def _receive(self, call: grpc.aio.StreamStreamCall) -> None:
        while True:
            message = await call.read()
            if message is grpc.aio.EOF:
                return
            kind = message.WhichOneof("kind")
            if kind == "commands":
                for command in message.commands.commands:
                    self._daemon.handle(codec.command_from_pb(command))
            elif kind == "ack":
                self._daemon.acknowledge(message.ack.work_name, message.ack.attempt, message.ack.seq)
            elif kind == "output_ack":
                shown = message.output_ack
                self._daemon.confirm_output(shown.work_name, shown.attempt, shown.stdout_offset, shown.stderr_offset)
