"""The work process's end of the local socket to its agent: numbered events kept until acknowledged.

Events are queued from any thread (the user's ``run`` on the main thread, the attribute watcher, the SIGTERM
handler) and written by one sender thread that batches whatever is waiting into a single frame. Every event is
kept until the control plane acknowledges it (through the agent), so when the agent dies the work keeps running,
reconnects to the agent's socket when an agent listens there again, and sends again what was not acknowledged.
The buffer is bounded: when full, attribute changes are merged into one (latest value per attribute); statuses,
exits and errors are never dropped.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import socket
import threading
import time
from collections import OrderedDict
from typing import Callable

from lightning_ctl.agent.framing import encode_frame, read_frame_blocking
from lightning_ctl.protos import codec
from lightning_ctl.protos.lightning.v1 import events_pb2, runner_pb2, storage_pb2
from lightning_ctl.sdk._events import EventBody

MAX_UNACKED_EVENTS = 10_000
_MAX_BATCH = 512
_RECONNECT_INITIAL_S = 0.05
_RECONNECT_MAX_S = 1.0


class _Flush:
    """A marker in the send queue: set once everything queued before it was written (or could not be)."""

    def __init__(self) -> None:
        self.done = threading.Event()


class _PendingRequest:
    """A storage request and, once the agent answered, its reply."""

    def __init__(self, request: storage_pb2.StorageRequest) -> None:
        self.request = request
        self.reply: storage_pb2.StorageReply | None = None
        self.done = threading.Event()


class RunnerConnection:
    """Sends this work's events to the agent, resending unacknowledged ones after each reconnection."""

    def __init__(self, socket_path: str, work_name: str, attempt: int) -> None:
        self._socket_path = socket_path
        self._hello = runner_pb2.RunnerHello(work_name=work_name, attempt=attempt, pid=os.getpid())
        self._work_name = work_name
        self._attempt = attempt
        self._seq = itertools.count(1)
        self._outbox: queue.SimpleQueue[events_pb2.WorkEvent | _Flush | None] = queue.SimpleQueue()
        self._unacked: OrderedDict[int, events_pb2.WorkEvent] = OrderedDict()
        self._lock = threading.Lock()  # guards _unacked and _sock (sender and receiver threads)
        self._write_lock = threading.Lock()  # one frame at a time on the socket
        self._sock: socket.socket | None = None
        self._reconnect_delay_s = _RECONNECT_INITIAL_S
        self._on_message: Callable[[runner_pb2.SupervisorMessage], None] | None = None
        self._early: list[runner_pb2.SupervisorMessage] = []
        self._request_ids = itertools.count(1)
        self._requests: dict[int, _PendingRequest] = {}
        """Storage requests awaiting their reply: sent again on every reconnection."""

    def connect(self) -> runner_pb2.SupervisorMessage | None:
        """Connect for the first time and return the agent's init message (None if the agent closed at once)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(self._socket_path)
        sock.sendall(encode_frame(runner_pb2.RunnerMessage(hello=self._hello).SerializeToString()))
        frame = read_frame_blocking(sock)
        if frame is None:
            return None
        init = runner_pb2.SupervisorMessage()
        init.ParseFromString(frame)
        self._sock = sock
        self._hello.initialized = True
        return init

    def start(self) -> None:
        """Start sending and receiving (messages wait for ``set_handler``)."""
        threading.Thread(target=self._send_loop, name="lightning-sender", daemon=True).start()
        threading.Thread(target=self._receive_loop, name="lightning-receiver", daemon=True).start()

    def set_handler(self, on_message: Callable[[runner_pb2.SupervisorMessage], None]) -> None:
        """Hand every message of the agent (after init) to ``on_message``, starting with those already received."""
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

    def emit_vars_json(self, vars_json: str) -> None:
        """Queue a change of attributes already encoded as a JSON object."""
        event = self._event()
        event.delta.vars_json = vars_json
        self._outbox.put(event)

    def request(self, request: storage_pb2.StorageRequest) -> storage_pb2.StorageReply:
        """Send a storage request to the agent and wait for its reply (across agent restarts: it is sent again)."""
        pending = _PendingRequest(request)
        with self._lock:
            request.request_id = next(self._request_ids)
            self._requests[request.request_id] = pending
            sock = self._sock
        if sock is not None:
            self._write_message(sock, runner_pb2.RunnerMessage(storage=[request]))
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
                for event in batch:
                    self._unacked[event.seq] = event
                if len(self._unacked) > MAX_UNACKED_EVENTS:
                    self._coalesce()
                sock = self._sock
            if batch and sock is not None:
                self._write(sock, batch)
            for marker in markers:
                marker.done.set()

    def _write(self, sock: socket.socket, events: list[events_pb2.WorkEvent]) -> None:
        self._write_message(sock, runner_pb2.RunnerMessage(events=events))

    def _write_message(self, sock: socket.socket, message: runner_pb2.RunnerMessage) -> None:
        frame = encode_frame(message.SerializeToString())
        try:
            with self._write_lock:
                sock.sendall(frame)
        except OSError:
            self._disconnected(sock)

    def _coalesce(self) -> None:
        """Merge each run of consecutive buffered attribute changes into one (latest value per attribute wins)."""
        merged: OrderedDict[int, events_pb2.WorkEvent] = OrderedDict()
        run: list[events_pb2.WorkEvent] = []
        for event in [*self._unacked.values(), None]:
            if event is not None and event.WhichOneof("kind") == "delta":
                run.append(event)
                continue
            if run:
                combined = run[-1] if len(run) == 1 else self._merge(run)
                merged[combined.seq] = combined
                run = []
            if event is not None:
                merged[event.seq] = event
        self._unacked = merged

    def _merge(self, run: list[events_pb2.WorkEvent]) -> events_pb2.WorkEvent:
        values: dict = {}
        for event in run:
            values.update(json.loads(event.delta.vars_json))
        first = run[0].first_seq or run[0].seq
        event = events_pb2.WorkEvent(work_name=self._work_name, attempt=self._attempt, seq=run[-1].seq, first_seq=first)
        event.delta.vars_json = json.dumps(values)
        return event

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
                frame = read_frame_blocking(sock)
            except OSError:
                frame = None
            if frame is None:
                self._disconnected(sock)
                continue
            message = runner_pb2.SupervisorMessage()
            message.ParseFromString(frame)
            self._reconnect_delay_s = _RECONNECT_INITIAL_S  # an agent that talks to us: reconnections may be quick
            kind = message.WhichOneof("kind")
            if kind == "ack":
                with self._lock:
                    while self._unacked and next(iter(self._unacked)) <= message.ack.seq:
                        self._unacked.popitem(last=False)
                continue
            if kind == "storage_reply":
                with self._lock:
                    pending = self._requests.pop(message.storage_reply.request_id, None)
                if pending is not None:
                    pending.reply = message.storage_reply
                    pending.done.set()
                continue
            if kind == "resend":
                with self._lock:
                    events = list(self._unacked.values())
                if events:
                    self._write(sock, events)
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
                with self._lock, self._write_lock:
                    hello = runner_pb2.RunnerMessage(hello=self._hello, events=list(self._unacked.values()),
                                                     storage=[p.request for p in self._requests.values()])
                    sock.sendall(encode_frame(hello.SerializeToString()))
                    self._sock = sock
                return sock
            except OSError:
                sock.close()
