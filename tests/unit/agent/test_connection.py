"""Tests for agent.runner.connection.RunnerConnection's framing (no socket: driven directly; its buffer's merging is
tested in test_unacked.py)."""

from __future__ import annotations

from lightning_ctl.agent.framing import HEADER
from lightning_ctl.agent.runner.connection import RunnerConnection
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import events_pb2
from lightning_ctl.protos.limits import BATCH_BYTES, MiB


def delta(seq: int, **values: str) -> events_pb2.WorkEvent:
    event = events_pb2.WorkEvent(work_name="root.w", attempt=1, seq=seq)
    event.delta.values.update(values)
    return event


def payloads(frame: bytes) -> list[events_pb2.WorkEvent]:
    events = codec.runner_payload_from_bytes(frame[HEADER.size:]).events
    return [events_pb2.WorkEvent.FromString(e) for e in events]


def test_frames_stay_within_the_batch_size() -> None:
    """Events are written in frames of at most BATCH_BYTES (a larger event alone), none lost or reordered."""
    connection = RunnerConnection("/nowhere", "root.w", 1)
    events = [delta(seq, x='"' + "a" * (3 * MiB) + '"') for seq in range(1, 5)]
    frames = connection._frames(events, hello=True)
    assert len(frames) == 4 and all(len(f) <= BATCH_BYTES + 1024 for f in frames)
    assert [e.seq for f in frames for e in payloads(f)] == [1, 2, 3, 4]
    assert codec.runner_payload_from_bytes(frames[0][HEADER.size:]).hello is not None  # the hello leads


def test_an_event_too_large_to_frame_is_replaced_in_its_place() -> None:
    """An event larger than the agent accepts becomes an `invalid` event with its seq, saying why: the sender
    thread never dies on it."""
    connection = RunnerConnection("/nowhere", "root.w", 1)
    connection._max_frame_bytes = 4096
    frame, = connection._frames([delta(7, x='"' + "a" * 10_000 + '"')], hello=False)
    event, = payloads(frame)
    assert event.seq == 7 and event.WhichOneof("kind") == "invalid" and "cannot reach its agent" in event.invalid.reason

