"""WorkSupervisor: one work process, from spawn to its exit status.

    launch ─► spawned (own session and process group) ─► runner connected ─► ... ─► exited
                 │ stdout/stderr lines ─► LinesLogged                  stop: SIGTERM to the group,
                 │ runner frames ─► work events                        SIGKILL after grace_s
                 └ exit ─► ProcessExited (after the last output and event), leftovers of the group killed
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
from typing import Awaitable, Callable

import structlog

from agent.framing import encode_frame, read_frame
from agent.launcher import LaunchRequest, WorkHandle
from protos import codec
from protos.lightning.v1 import events_pb2, runner_pb2
from sdk._events import EventBody, LaunchWork, LinesLogged, ProcessExited, RunCall, UpdateVars

log = structlog.get_logger(component="supervisor")

MAX_LINE_CHARS = 16 * 1024
LINE_CUT_MARKER = " …[line cut]"
_READ_CHUNK = 64 * 1024


class WorkSupervisor:
    """Owns one work process: starts it, feeds it messages, relays its output and events, stops it."""

    def __init__(
        self,
        launch: LaunchWork,
        socket_path: str,
        emit: Callable[[str, int, EventBody], None],
        forward: Callable[[events_pb2.WorkEvent], None],
        cwd: str | None = None,
    ) -> None:
        self.launch = launch
        self._socket_path = socket_path
        self._emit = emit
        self._forward = forward
        self._cwd = cwd
        self._pending: list[bytes] = []
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._process: WorkHandle | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._runner_done = asyncio.Event()
        self._stop_requested: tuple[float, str] | None = None
        self.exited = asyncio.Event()
        self.log = log.bind(work_name=launch.work_name, attempt=launch.attempt)
        self._init_frame = self._queue(
            runner_pb2.SupervisorMessage(
                init=runner_pb2.RunnerInit(
                    vars_json=codec.dumps(launch.vars),
                    start_action=launch.start_action,
                    work_class=launch.work_class,
                    init_args_json=codec.dumps(launch.init_args) if launch.init_args is not None else "",
                )
            )
        )

    def run_from(self, app_path: str, cwd: str) -> None:
        """Run the work from an unpacked code bundle instead of the control plane's path."""
        self.launch = dataclasses.replace(self.launch, app_path=app_path)
        self._cwd = cwd

    @property
    def pid(self) -> int | None:
        """The work process's pid, once spawned."""
        return self._process.pid if self._process else None

    def _environment(self) -> dict[str, str]:
        """What the work's environment adds to the agent's."""
        env = {**self.launch.env, "PYTHONUNBUFFERED": "1"}
        if self.launch.gpu_indices:
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in self.launch.gpu_indices)
        return env

    async def start(self, launch_process: Callable[[LaunchRequest], Awaitable[WorkHandle]]) -> None:
        """Start the work process, in its own session (so it has its own process group)."""
        request = LaunchRequest(
            socket_path=self._socket_path,
            work_name=self.launch.work_name,
            attempt=self.launch.attempt,
            app_path=self.launch.app_path,
            app_env=self.launch.env,
            env=self._environment(),
            cwd=self._cwd,
        )
        self._process = await launch_process(request)
        if self._stop_requested is not None:
            asyncio.create_task(self.stop(*self._stop_requested))
        self.log = self.log.bind(pid=self._process.pid)
        self.log.info("work_process_spawned")
        self._tasks = [
            asyncio.create_task(self._pump(self._process.stdout, "stdout")),
            asyncio.create_task(self._pump(self._process.stderr, "stderr")),
            asyncio.create_task(self._wait_exit()),
        ]

    def attach(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: runner_pb2.RunnerMessage) -> None:
        """The runner connected (or reconnected): flush what was queued for it and relay its events."""
        if first.hello.initialized and self._init_frame in self._pending:
            self._pending.remove(self._init_frame)  # a reconnection: it already has its init
        self._writer = writer
        for frame in self._pending:
            writer.write(frame)
        self._pending.clear()
        self._runner_done.clear()
        self._connected.set()
        self._relay(first)
        self._tasks.append(asyncio.create_task(self._read_runner(reader, writer)))

    def send_ack(self, seq: int) -> None:
        """Tell the work process the control plane has its events up to ``seq``."""
        if self._writer is not None:  # acks are not worth queueing: a later one covers this one
            self._writer.write(encode_frame(
                runner_pb2.SupervisorMessage(ack=runner_pb2.EventsAcked(seq=seq)).SerializeToString()))

    def request_resend(self) -> None:
        """Ask the work process to send its unacknowledged events again."""
        if self._writer is not None:
            self._writer.write(encode_frame(
                runner_pb2.SupervisorMessage(resend=runner_pb2.ResendEvents()).SerializeToString()))

    def _queue(self, message: runner_pb2.SupervisorMessage) -> bytes:
        frame = encode_frame(message.SerializeToString())
        if self._writer is None:
            self._pending.append(frame)
        else:
            self._writer.write(frame)
        return frame

    def send_call(self, call: RunCall) -> None:
        """Queue a call for the work."""
        self._queue(runner_pb2.SupervisorMessage(call=codec.run_call_to_pb(call)))

    def send_update(self, update: UpdateVars) -> None:
        """Pass the flow's attribute changes to the work."""
        self._queue(runner_pb2.SupervisorMessage(update=codec.update_vars_to_pb(update)))

    def _relay(self, message: runner_pb2.RunnerMessage) -> None:
        for event in message.events:
            self._forward(event)

    async def _read_runner(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (frame := await read_frame(reader)) is not None:
                message = runner_pb2.RunnerMessage()
                message.ParseFromString(frame)
                self._relay(message)
        finally:
            if self._writer is writer:
                self._writer = None  # messages queue until the process reconnects
            self._runner_done.set()

    async def _pump(self, stream: asyncio.StreamReader | None, name: str) -> None:
        """Relay the process's output line by line; undecodable bytes are replaced, very long lines cut."""
        assert stream is not None
        partial = b""
        while chunk := await stream.read(_READ_CHUNK):
            *lines, partial = (partial + chunk).split(b"\n")
            if len(partial) > MAX_LINE_CHARS:
                lines.append(partial)
                partial = b""
            if lines:
                self._emit_lines(name, lines)
        if partial:
            self._emit_lines(name, [partial])

    def _emit_lines(self, stream: str, raw_lines: list[bytes]) -> None:
        lines = []
        for raw in raw_lines:
            text = raw.decode("utf-8", errors="replace").rstrip("\r")
            if len(text) > MAX_LINE_CHARS:
                text = text[:MAX_LINE_CHARS] + LINE_CUT_MARKER
            lines.append(text)
        self._emit(self.launch.work_name, self.launch.attempt, LinesLogged(stream, tuple(lines)))

    async def _wait_exit(self) -> None:
        assert self._process is not None
        try:
            returncode = await self._process.wait()
        except OSError:  # the fork server died: the process is no longer observable from here
            returncode = -signal.SIGKILL
            self._kill_group(signal.SIGKILL)
        self._kill_group(signal.SIGKILL)  # grandchildren never outlive the work
        # The last output and events go out before the exit does; a runner that never connected has none.
        pumps = [t for t in self._tasks if t is not asyncio.current_task()]
        waiters = [*pumps, asyncio.create_task(self._runner_done.wait())] if self._connected.is_set() else pumps
        await asyncio.wait(waiters, timeout=2.0)
        exit_code, sig = (0, -returncode) if returncode < 0 else (returncode, 0)
        exit_event = ProcessExited(self._process.pid, exit_code, sig)
        self.log.info("work_process_exited", reason=exit_event.describe())
        self._emit(self.launch.work_name, self.launch.attempt, exit_event)
        if self._writer is not None:
            self._writer.close()
        self.exited.set()

    def _kill_group(self, sig: signal.Signals) -> None:
        if self._process is None:
            return
        try:
            os.killpg(self._process.pid, sig)
        except ProcessLookupError:
            # A process forked a moment ago may not have called setsid() yet: its group does not exist.
            try:
                os.kill(self._process.pid, sig)
            except ProcessLookupError:
                pass
        except PermissionError:
            pass

    async def stop(self, grace_s: float, reason: str) -> None:
        """SIGTERM to the work's process group; SIGKILL if it has not exited after ``grace_s``."""
        if self._process is None:
            self._stop_requested = (grace_s, reason)  # still starting: stopped as soon as it exists
            return
        if self.exited.is_set():
            return
        self.log.info("work_stopping", reason=reason, grace_s=grace_s)
        self._kill_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.exited.wait(), timeout=grace_s)
        except asyncio.TimeoutError:
            self.log.warning("work_killed_after_grace", grace_s=grace_s)
            self._kill_group(signal.SIGKILL)
            await self.exited.wait()
