"""Tests for agent.framing: length-prefixed frames between an agent and its work processes."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

from lightning_ctl.agent import framing
from lightning_ctl.agent.framing import (
    HEADER,
    FrameTooLargeError,
    encode_frame,
    read_frame,
    read_frame_blocking,
)


@pytest.fixture
def pair():
    """A connected pair of blocking sockets (a, b), closed afterwards."""
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    yield a, b
    a.close()
    b.close()


def read_async(data: bytes, *, eof: bool = True) -> list[bytes | None]:
    """Read frames with read_frame from a StreamReader fed ``data`` until it returns None."""

    async def main() -> list[bytes | None]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        if eof:
            reader.feed_eof()
        frames: list[bytes | None] = []
        while True:
            frame = await read_frame(reader)
            frames.append(frame)
            if frame is None:
                return frames

    return asyncio.run(main())


class TestEncode:
    def test_header_is_big_endian_length(self):
        """A frame is the payload's 4-byte big-endian length followed by the payload."""
        assert encode_frame(b"abc") == b"\x00\x00\x00\x03abc"

    def test_too_large_payload_is_refused(self, monkeypatch):
        """Encoding more than MAX_FRAME_BYTES raises FrameTooLargeError."""
        monkeypatch.setattr(framing, "MAX_FRAME_BYTES", 8)
        assert encode_frame(b"x" * 8)
        with pytest.raises(FrameTooLargeError, match="9 bytes"):
            encode_frame(b"x" * 9)

    def test_error_is_a_value_error(self):
        """FrameTooLargeError is a ValueError."""
        assert issubclass(FrameTooLargeError, ValueError)


class TestBlockingRead:
    def test_round_trip(self, pair):
        """Frames written to one end are read back in order from the other."""
        a, b = pair
        payloads = [b"first", b"", b"\x00\xff" * 10]
        a.sendall(b"".join(encode_frame(p) for p in payloads))
        assert [read_frame_blocking(b) for _ in payloads] == payloads

    def test_large_frame_arrives_whole(self, pair):
        """A frame bigger than the socket buffer is reassembled from partial reads."""
        a, b = pair
        payload = bytes(range(256)) * 16_384  # 4 MiB
        writer = threading.Thread(target=a.sendall, args=(encode_frame(payload),))
        writer.start()
        try:
            assert read_frame_blocking(b) == payload
        finally:
            writer.join(timeout=10)

    def test_eof_gives_none(self, pair):
        """End of stream before a header gives None."""
        a, b = pair
        a.close()
        assert read_frame_blocking(b) is None

    def test_eof_inside_a_frame_gives_none(self, pair):
        """End of stream in the middle of a frame gives None."""
        a, b = pair
        a.sendall(encode_frame(b"complete")[:7])
        a.close()
        assert read_frame_blocking(b) is None

    def test_announced_frame_too_large_is_refused(self, pair):
        """A header announcing more than MAX_FRAME_BYTES raises FrameTooLargeError without reading it."""
        a, b = pair
        a.sendall(HEADER.pack(framing.MAX_FRAME_BYTES + 1))
        with pytest.raises(FrameTooLargeError):
            read_frame_blocking(b)


class TestAsyncRead:
    def test_round_trip(self):
        """read_frame reads frames in order, then None at end of stream."""
        data = encode_frame(b"one") + encode_frame(b"") + encode_frame(b"three")
        assert read_async(data) == [b"one", b"", b"three", None]

    def test_eof_inside_a_frame_gives_none(self):
        """A truncated frame at end of stream gives None."""
        assert read_async(encode_frame(b"truncated")[:6]) == [None]

    def test_announced_frame_too_large_is_refused(self):
        """A header announcing more than MAX_FRAME_BYTES raises FrameTooLargeError."""
        with pytest.raises(FrameTooLargeError):
            read_async(HEADER.pack(framing.MAX_FRAME_BYTES + 1), eof=False)

    def test_round_trip_over_a_socketpair(self, pair):
        """Frames written to a socket are read by the asyncio reader on the other end."""
        a, b = pair
        a.sendall(encode_frame(b"hello") + encode_frame(b"world"))
        a.close()

        async def main() -> list[bytes | None]:
            b.setblocking(False)
            reader, writer = await asyncio.open_connection(sock=b)
            frames = [await read_frame(reader) for _ in range(3)]
            writer.close()
            return frames

        assert asyncio.run(main()) == [b"hello", b"world", None]
