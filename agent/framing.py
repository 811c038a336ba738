"""Length-prefixed message frames on the local socket between the agent and its work processes."""

from __future__ import annotations

import asyncio
import socket
import struct

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 64 * 2**20


class FrameTooLargeError(ValueError):
    """A frame announced more than MAX_FRAME_BYTES."""


def encode_frame(payload: bytes) -> bytes:
    """``payload`` with its 4-byte big-endian length in front."""
    if len(payload) > MAX_FRAME_BYTES:
        raise FrameTooLargeError(f"frame of {len(payload)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return HEADER.pack(len(payload)) + payload


def _check_size(size: int) -> int:
    if size > MAX_FRAME_BYTES:
        raise FrameTooLargeError(f"peer announced a frame of {size} bytes (limit {MAX_FRAME_BYTES})")
    return size


def read_frame_blocking(sock: socket.socket) -> bytes | None:
    """The next frame from a blocking socket, or None at end of stream."""
    header = _recv_exactly(sock, HEADER.size)
    if header is None:
        return None
    size = _check_size(HEADER.unpack(header)[0])
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


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """The next frame from an asyncio stream, or None at end of stream."""
    try:
        header = await reader.readexactly(HEADER.size)
        size = _check_size(HEADER.unpack(header)[0])
        return await reader.readexactly(size) if size else b""
    except asyncio.IncompleteReadError:
        return None
