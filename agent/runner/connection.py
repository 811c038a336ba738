"""The work process's end of the local socket to its agent: a sender thread and a receiver thread.

Events are queued from any thread (the user's ``run`` on the main thread, the attribute watcher, the SIGTERM
handler) and written by one sender thread that batches whatever is waiting into a single frame, so a busy work
costs one write per batch and an idle one sends at once.
"""

from __future__ import annotations

import itertools
import queue
import socket
import threading
from typing import Callable

from agent.framing import encode_frame, read_frame_blocking
from protos import codec
from protos.lightning.v1 import events_pb2, runner_pb2
from sdk._events import EventBody

_MAX_BATCH = 512


class _Flush:
    """A marker in the send queue: set once everything queued before it was written."""

    def __init__(self) -> None:
        self.done = threading.Event()


class RunnerConnection:
    """Sends this work's events to the agent and hands the agent's messages to ``on_message``."""

    def __init__(self, sock: socket.socket, work_name: str, attempt: int) -> None:
        self._sock = sock
        self._work_name = work_name
        self._attempt = attempt
        self._seq = itertools.count(1)
        self._outbox: queue.SimpleQueue[events_pb2.WorkEvent | _Flush | None] = queue.SimpleQueue()
        self._sender = threading.Thread(target=self._send_loop, name="lightning-sender", daemon=True)
        self._sender.start()

    @classmethod
    def connect(cls, path: str, work_name: str, attempt: int) -> RunnerConnection:
        """Connect to the agent's socket at ``path``."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        return cls(sock, work_name, attempt)

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

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything queued so far was written; False on timeout."""
        marker = _Flush()
        self._outbox.put(marker)
        return marker.done.wait(timeout_s)

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
            if batch:
                try:
                    self._sock.sendall(encode_frame(runner_pb2.RunnerMessage(events=batch).SerializeToString()))
                except OSError:
                    pass  # the agent is gone; the work keeps running and its output still reaches its files
            for marker in markers:
                marker.done.set()

    def receive_forever(self, on_message: Callable[[runner_pb2.SupervisorMessage], None]) -> None:
        """Read the agent's messages until the socket closes (runs on the caller's thread)."""
        while True:
            try:
                frame = read_frame_blocking(self._sock)
            except OSError:
                frame = None
            if frame is None:
                return
            message = runner_pb2.SupervisorMessage()
            message.ParseFromString(frame)
            on_message(message)

    def receive_one(self) -> runner_pb2.SupervisorMessage | None:
        """Read one message synchronously (used for the init message, before the receiver thread starts)."""
        frame = read_frame_blocking(self._sock)
        if frame is None:
            return None
        message = runner_pb2.SupervisorMessage()
        message.ParseFromString(frame)
        return message

