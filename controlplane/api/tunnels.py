"""TunnelBroker: byte streams to works' servers through the agents that run them (asyncio thread).

    open(work) ─► OpenTunnel on the agent's stream ─► the agent connects to the work's port and opens a Tunnel
    stream (its own credential) ─► serve(): the stream is matched to the request (by id and agent) ─► one end of
    a socket pair goes to the caller (the HTTP proxy's connection), the other is pumped to and from the stream

The agent dials out, as it does for everything: no port of an agent's machine is opened to the control plane.
Backpressure holds end to end (a full socket buffer stops reading the stream, and gRPC's flow control stops the
agent), so a large answer streams through in bounded memory.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
from dataclasses import dataclass

import grpc
import structlog

from lightning_ctl.controlplane.agents.registry import AgentRegistry
from lightning_ctl.controlplane.agents.serving import ServingWork
from lightning_ctl.controlplane.api.aborts import abort
from lightning_ctl.controlplane.errors import TunnelError
from lightning_ctl.protos.lightning.v1 import agent_pb2
from lightning_ctl.sdk._agent_messages import OpenTunnel

log = structlog.get_logger(component="tunnels")

OPEN_TIMEOUT_S = 10.0
"""How long the agent has to connect to the work's port and open the tunnel."""
CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class _Asked:
    agent_id: str
    work_name: str
    future: asyncio.Future[socket.socket]


class TunnelBroker:
    """Asks agents for tunnels and pairs the streams they open with the requests that asked."""

    def __init__(self, registry: AgentRegistry) -> None:
        self._registry = registry
        self._asked: dict[str, _Asked] = {}

    async def open(self, work: ServingWork) -> socket.socket:
        """A connected socket whose other end is the server of ``work`` (through its agent).

        Raises:
            TunnelError: its agent is not connected, could not reach the work's port, or did not answer in time.
        """
        agent = self._registry.agents.get(work.agent_id)
        if agent is None:
            raise TunnelError(f"the agent running work {work.work_name} is not connected")
        tunnel_id = secrets.token_urlsafe(18)
        future: asyncio.Future[socket.socket] = asyncio.get_running_loop().create_future()
        self._asked[tunnel_id] = _Asked(work.agent_id, work.work_name, future)
        agent.outgoing.put_nowait(OpenTunnel(tunnel_id, work.work_name, work.attempt))
        try:
            return await asyncio.wait_for(future, OPEN_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise TunnelError(f"agent {agent.name} did not open a tunnel to work {work.work_name} within "
                              f"{OPEN_TIMEOUT_S:g}s") from None
        finally:
            self._asked.pop(tunnel_id, None)

    async def serve(self, agent_id: str, context: grpc.aio.ServicerContext) -> None:
        """The Tunnel stream agent ``agent_id`` opened: pair it with its request and pump until either side ends."""
        first = await context.read()
        if first is grpc.aio.EOF:
            return
        asked = self._asked.get(first.tunnel_id)
        if asked is None or asked.agent_id != agent_id:
            await abort(context, grpc.StatusCode.PERMISSION_DENIED,
                        "no tunnel with this id was asked of this agent (or it timed out)")
        if first.error:
            if not asked.future.done():
                asked.future.set_exception(TunnelError(first.error))
            return
        ours, theirs = socket.socketpair()
        if asked.future.done():  # the request gave up meanwhile
            ours.close()
            theirs.close()
            return
        ours.setblocking(False)
        asked.future.set_result(theirs)
        from_work = asyncio.create_task(_to_socket(context, ours))
        try:
            await _to_stream(ours, context)  # ends when the proxy's side closes its connection
        finally:
            from_work.cancel()
            await asyncio.gather(from_work, return_exceptions=True)
            ours.close()


async def _to_socket(context: grpc.aio.ServicerContext, sock: socket.socket) -> None:
    """What the work's server sends, into the socket (and its end as the socket's end of writing)."""
    loop = asyncio.get_running_loop()
    try:
        while (frame := await context.read()) is not grpc.aio.EOF:
            if frame.data:
                await loop.sock_sendall(sock, frame.data)
    finally:
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


async def _to_stream(sock: socket.socket, context: grpc.aio.ServicerContext) -> None:
    """What the proxy's connection sends, to the agent, until it closes."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            data = await loop.sock_recv(sock, CHUNK_BYTES)
        except OSError:
            return
        if not data:
            return
        await context.write(agent_pb2.TunnelFrame(data=data))
