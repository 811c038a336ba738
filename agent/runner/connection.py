"""The work process's end of the local socket to its agent: numbered events kept until acknowledged.

Events are queued from any thread (the user's ``run`` on the main thread, the attribute watcher, the SIGTERM
handler) and written by one sender thread that batches whatever is waiting into frames of bounded size. Every
event is kept until the control plane acknowledges it (through the agent), so when the agent dies the work keeps
running, reconnects to the agent's socket when an agent listens there again, and sends again what was not
acknowledged. The buffer is bounded (``unacked.py``): when full, attribute changes are merged (latest value per
attribute, each merge within the attribute limit); statuses, exits and errors are never dropped. Nothing stops the sender: an
event that cannot be framed is replaced, in its place, by one saying why.

Storage requests (Path, Payload, Drive) wait for the agent's reply; one still unanswered when the agent goes is
sent again to the next agent (every request is idempotent).
"""

from __future__ import annotations

import itertools
import os
import queue
import socket
import sys
import threading
import time
from typing import Callable

from lightning_ctl.agent.framing import encode_frame, read_frame_blocking
from lightning_ctl.agent.runner.unacked import UnackedEvents
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import events_pb2
from lightning_ctl.protos.limits import BATCH_BYTES, DEFAULT_MAX_ATTRIBUTE_BYTES, max_message_bytes
from lightning_ctl.sdk._agent_messages import RunnerHello, RunnerInit
from lightning_ctl.sdk._events import EventBody, RunCall, UpdateVars
from lightning_ctl.sdk._storage_types import StorageAsk, StorageReply, StorageRequest

_MAX_BATCH = 512
_RECONNECT_INITIAL_S = 0.05
_RECONNECT_MAX_S = 1.0
_FROM_AGENT_MAX_BYTES = 2**32 - 1
"""What the agent sends is trusted: no limit but the frame header's."""


class _Flush:
    """A marker in the send queue: set once everything queued before it was written (or could not be)."""

    def __init__(self) -> None:
        self.done = threading.Event()


class _PendingRequest:
    """A storage request and, once the agent answered, its reply."""

    def __init__(self, request: StorageRequest) -> None:
        self.request = request
        self.reply: StorageReply | None = None
        self.done = threading.Event()


class RunnerConnection:
    """Sends this work's events to the agent, resending unacknowledged ones after each reconnection."""

    def __init__(self, socket_path: str, work_name: str, attempt: int) -> None:
        self._socket_path = socket_path
        self._hello = RunnerHello(work_name, attempt, os.getpid())
        self._work_name = work_name
        self._attempt = attempt
        self._seq = itertools.count(1)
        self._outbox: queue.SimpleQueue[events_pb2.WorkEvent | _Flush | None] = queue.SimpleQueue()
        self._unacked = UnackedEvents()
        self._lock = threading.Lock()  # guards _unacked and _sock (sender and receiver threads)
        self._write_lock = threading.Lock()  # one frame at a time on the socket
        self._sock: socket.socket | None = None
        self._reconnect_delay_s = _RECONNECT_INITIAL_S
        self._on_message: Callable[[RunCall | UpdateVars], None] | None = None
        self._early: list[RunCall | UpdateVars] = []
        self._request_ids = itertools.count(1)
        self._requests: dict[int, _PendingRequest] = {}
        """Storage requests awaiting their reply: sent again on every reconnection."""
        self.max_attribute_bytes = DEFAULT_MAX_ATTRIBUTE_BYTES
        self._max_frame_bytes = max_message_bytes(self.max_attribute_bytes)

    def connect(self) -> RunnerInit | None:
        """Connect for the first time and return the agent's init (None if the agent closed at once)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self._socket_path)
        sock.sendall(encode_frame(codec.runner_payload([], self._hello)))
        frame = read_frame_blocking(sock, _FROM_AGENT_MAX_BYTES)
        if frame is None:
            return None
        init = codec.supervisor_payload_from_bytes(frame)
        if not isinstance(init, RunnerInit):
            return None
        self._sock = sock
        self._hello = RunnerHello(self._work_name, self._attempt, self._hello.pid, initialized=True)
        if init.max_attribute_bytes:
            self.max_attribute_bytes = init.max_attribute_bytes
            self._max_frame_bytes = max_message_bytes(init.max_attribute_bytes)
            self._unacked.max_merge_bytes = init.max_attribute_bytes
        return init

    def start(self) -> None:
        """Start sending and receiving (messages wait for ``set_handler``)."""
        threading.Thread(target=self._send_loop, name="lightning-sender", daemon=True).start()
        threading.Thread(target=self._receive_loop, name="lightning-receiver", daemon=True).start()

    def set_handler(self, on_message: Callable[[RunCall | UpdateVars], None]) -> None:
        """Hand every call and update of the agent to ``on_message``, starting with those already received."""
        with self._lock:
            early, self._early = self._early, []
            self._on_message = on_message
        for message in early:
            on_message(message)

    # -- queueing (any thread) ------------------------------------------------------------------------------------

    def _event(self) -> events_pb2.WorkEvent:
        return events_pb2.WorkEvent(work_name=self._work_name, attempt=self._attempt, seq=next(self._seq))

    def emit(self, body: EventBody) -> None:
        """Queue an event for the agent (safe from any thread and from signal handlers)."""
        event = self._event()
        codec.body_to_pb(body, event)
        self._outbox.put(event)

    def emit_values(self, values: dict[str, str], command_seq: int = 0) -> None:
        """Queue a change of attributes, each value already encoded as JSON (echoing update ``command_seq``)."""
        event = self._event()
        event.delta.values.update(values)
        event.delta.command_seq = command_seq
        self._outbox.put(event)

    def request(self, ask: StorageAsk) -> StorageReply:
        """Send a storage request to the agent and wait for its reply (across agent restarts: it is sent again)."""
        with self._lock:
            pending = _PendingRequest(StorageRequest(next(self._request_ids), ask))
            self._requests[pending.request.request_id] = pending
            sock = self._sock
        if sock is not None:
            self._send(sock, [self._storage_frame([pending.request])])
        pending.done.wait()
        assert pending.reply is not None
        return pending.reply

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything queued so far was written; False on timeout."""
        marker = _Flush()
        self._outbox.put(marker)
        return marker.done.wait(timeout_s)

    # -- sending --------------------------------------------------------------------------------------------------

    def _send_loop(self) -> None:
        while True:
            item = self._outbox.get()
            batch: list[events_pb2.WorkEvent] = []
            markers: list[_Flush] = []
            while True:
                if isinstance(item, _Flush):
                    markers.append(item)
                elif item is not None:
                    batch.append(item)
                if len(batch) >= _MAX_BATCH:
                    break
                try:
                    item = self._outbox.get_nowait()
                except queue.Empty:
                    break
            with self._lock:
                self._unacked.add(batch)
                sock = self._sock
            if batch and sock is not None:
                self._write(sock, batch)
            for marker in markers:
                marker.done.set()

    def _write(self, sock: socket.socket, events: list[events_pb2.WorkEvent], hello: bool = False) -> None:
        """Write ``events`` in frames of at most BATCH_BYTES (a larger event alone in its own)."""
        self._send(sock, self._frames(events, hello))

    def _send(self, sock: socket.socket, frames: list[bytes]) -> None:
        try:
            for frame in frames:
                with self._write_lock:
                    sock.sendall(frame)
        except OSError:
            self._disconnected(sock)

    def _storage_frame(self, requests: list[StorageRequest]) -> bytes:
        return encode_frame(codec.runner_payload([], storage=requests), self._max_frame_bytes)

    def _frames(self, events: list[events_pb2.WorkEvent], hello: bool) -> list[bytes]:
        frames: list[bytes] = []
        payloads: list[bytes] = []
        size = 0
        for event in events:
            payload = self._payload(event)
            if payloads and size + len(payload) > BATCH_BYTES:
                frames.append(encode_frame(codec.runner_payload(payloads, self._hello if hello else None),
                                           self._max_frame_bytes))
                payloads, size, hello = [], 0, False
            payloads.append(payload)
            size += len(payload)
        if payloads or hello:
            frames.append(encode_frame(codec.runner_payload(payloads, self._hello if hello else None),
                                       self._max_frame_bytes))
        return frames

    def _payload(self, event: events_pb2.WorkEvent) -> bytes:
        """``event`` serialized; an event too large to send becomes one saying so, in its place."""
        payload = event.SerializeToString()
        if len(payload) <= self._max_frame_bytes - 1024:
            return payload
        reason = (f"work {self._work_name}: an event of {len(payload)} bytes cannot reach its agent (the limit is "
                  f"{self._max_frame_bytes} bytes)")
        print(reason, file=sys.stderr, flush=True)
        replacement = events_pb2.WorkEvent(work_name=event.work_name, attempt=event.attempt, seq=event.seq,
                                           first_seq=event.first_seq)
        replacement.invalid.reason = reason
        return replacement.SerializeToString()

    # -- receiving and reconnecting -------------------------------------------------------------------------------

    def _disconnected(self, sock: socket.socket) -> None:
        with self._lock:
            if self._sock is sock:
                self._sock = None
        try:
            sock.close()
        except OSError:
            pass

    def _receive_loop(self) -> None:
        while True:
            sock = self._sock
            if sock is None:
                sock = self._reconnect()
            try:
                frame = read_frame_blocking(sock, _FROM_AGENT_MAX_BYTES)
                message = codec.supervisor_payload_from_bytes(frame) if frame is not None else None
            except (OSError, codec.CodecError):
                message = None
            if message is None:
                self._disconnected(sock)
                continue
            self._reconnect_delay_s = _RECONNECT_INITIAL_S  # an agent that talks to us: reconnections may be quick
            if isinstance(message, codec.EventsAcked):
                with self._lock:
                    self._unacked.ack(message)
                continue
            if isinstance(message, codec.ResendEvents):
                with self._lock:
                    events = self._unacked.events()
                if events:
                    self._write(sock, events)
                continue
            if isinstance(message, RunnerInit):
                continue  # only the first connection's, already taken
            if isinstance(message, StorageReply):
                with self._lock:
                    pending = self._requests.pop(message.request_id, None)
                if pending is not None:
                    pending.reply = message
                    pending.done.set()
                continue
            with self._lock:
                handler = self._on_message
                if handler is None:
                    self._early.append(message)
            if handler is not None:
                handler(message)

    def _reconnect(self) -> socket.socket:
        """Connect again (the agent restarted), say who we are, and send every unacknowledged event again."""
        while True:
            # The delay grows across attempts, including ones an agent accepts and closes at once (one that does not
            # know this process): no tight loop.
            time.sleep(self._reconnect_delay_s)
            self._reconnect_delay_s = min(self._reconnect_delay_s * 2, _RECONNECT_MAX_S)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self._socket_path)
                with self._lock:
                    events = self._unacked.events()
                    frames = self._frames(events, hello=True)
                    if self._requests:
                        frames.append(self._storage_frame([p.request for p in self._requests.values()]))
                    with self._write_lock:
                        for frame in frames:
                            sock.sendall(frame)
                    self._sock = sock
                return sock
            except OSError:
                sock.close()
