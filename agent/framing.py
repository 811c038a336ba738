"""Length-prefixed message frames on the local socket between the agent and its work processes."""

from __future__ import annotations

import asyncio
import socket
import struct

from lightning_ctl.agent.errors import FrameTooLargeError
from lightning_ctl.protos.limits import DEFAULT_MAX_MESSAGE_BYTES

__all__ = ["HEADER", "MAX_FRAME_BYTES", "FrameTooLargeError", "encode_frame", "read_frame", "read_frame_blocking"]

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = DEFAULT_MAX_MESSAGE_BYTES
"""The default limit; a work whose attribute limit is higher gets frames sized for it."""
_HEADER_LIMIT = 2**32 - 1


def encode_frame(payload: bytes, max_bytes: int | None = None) -> bytes:
    """``payload`` with its 4-byte big-endian length in front."""
    limit = min(max_bytes or MAX_FRAME_BYTES, _HEADER_LIMIT)
    if len(payload) > limit:
        raise FrameTooLargeError(f"frame of {len(payload)} bytes exceeds the {limit}-byte limit")
    return HEADER.pack(len(payload)) + payload


def _check_size(size: int, max_bytes: int | None) -> int:
    limit = max_bytes or MAX_FRAME_BYTES
    if size > limit:
        raise FrameTooLargeError(f"peer announced a frame of {size} bytes (limit {limit})")
    return size


def read_frame_blocking(sock: socket.socket, max_bytes: int | None = None) -> bytes | None:
    """The next frame from a blocking socket, or None at end of stream."""
    header = _recv_exactly(sock, HEADER.size)
    if header is None:
        return None
    size = _check_size(HEADER.unpack(header)[0], max_bytes)
    return _recv_exactly(sock, size) if size else b""


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks = []
    remaining = size
    while remaining:
        chunk = sock.recv(min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


async def read_frame(reader: asyncio.StreamReader, max_bytes: int | None = None) -> bytes | None:
    """The next frame from an asyncio stream, or None at end of stream."""
    try:
        header = await reader.readexactly(HEADER.size)
        size = _check_size(HEADER.unpack(header)[0], max_bytes)
        return await reader.readexactly(size) if size else b""
    except asyncio.IncompleteReadError:
        return None
