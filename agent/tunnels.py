"""The agent's end of a tunnel.

Bytes between the control plane (a ``Tunnel`` stream the agent opens) and the server of one of its works (a TCP
connection on this machine).

OpenTunnel(tunnel_id, work, attempt) ─► connect to the work's port here ─► Tunnel stream: first frame names
the tunnel ─► data both ways ─► either side ends: the other is closed

Only the ports of the agent's own works are reached this way, and the stream is opened by the agent with its own
credential: the control plane's proxy reaches works without any port of this machine being opened to it.
Backpressure holds end to end: nothing is read from one side faster than the other side takes it.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import grpc
import structlog

from lightning_ctl.protos.lightning.v1 import agent_pb2

log = structlog.get_logger(component="tunnels")

CHUNK_BYTES = 64 * 1024
_CONNECT_TIMEOUT_S = 5.0

OpenCall = Callable[[], grpc.aio.StreamStreamCall]
"""Opens a Tunnel stream to the control plane (with the agent's credential)."""


async def run_tunnel(open_call: OpenCall, tunnel_id: str, target: tuple[str, int] | None, work_name: str) -> None:
    """Connect the control plane's tunnel ``tunnel_id`` to ``target`` (host, port) until either side closes."""
    try:
        call = open_call()
    except ConnectionError as exc:
        log.warning("tunnel_not_opened", work_name=work_name, reason=str(exc))
        return
    try:
        if target is None:
            await _refuse(call, tunnel_id, f"work {work_name} has no server on this agent (it is not running here)")
            return
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*target), _CONNECT_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError) as exc:
            await _refuse(call, tunnel_id, f"work {work_name}: nothing accepts connections on {target[0]}:"
                                           f"{target[1]} ({exc or type(exc).__name__})")
            return
        await call.write(agent_pb2.TunnelFrame(tunnel_id=tunnel_id))
        pumps = [asyncio.create_task(_to_control_plane(reader, call)), asyncio.create_task(_to_work(call, writer))]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            writer.close()
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError, ConnectionError) as exc:
        log.debug("tunnel_ended", tunnel_id=tunnel_id[:8], work_name=work_name, reason=str(exc))
    finally:
        call.cancel()


async def _refuse(call: grpc.aio.StreamStreamCall, tunnel_id: str, reason: str) -> None:
    log.warning("tunnel_refused", reason=reason)
    await call.write(agent_pb2.TunnelFrame(tunnel_id=tunnel_id, error=reason))
    await call.done_writing()


async def _to_control_plane(reader: asyncio.StreamReader, call: grpc.aio.StreamStreamCall) -> None:
    while data := await reader.read(CHUNK_BYTES):
        await call.write(agent_pb2.TunnelFrame(data=data))
    await call.done_writing()
    await asyncio.Event().wait()  # the response side may still be flowing: the control plane ends the stream


async def _to_work(call: grpc.aio.StreamStreamCall, writer: asyncio.StreamWriter) -> None:
    while (frame := await call.read()) is not grpc.aio.EOF:
        if frame.data:
            writer.write(frame.data)
            await writer.drain()
