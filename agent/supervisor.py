"""WorkSupervisor: one work process, from spawn (or adoption after an agent restart) to its exit status.

    launch ─► spawned (own session and process group) ─► runner connected ─► ... ─► exited
      or        │ capture files ─► LinesLogged (by byte offset)      stop: SIGTERM to the group,
    adopt ──────┤ runner frames ─► work events (seq kept)            SIGKILL after grace_s
                └ exit ─► ProcessExited (after the last output and event), leftovers of the group killed

An adopted process was started by a previous agent: this one cannot wait() on it, so it watches the pid (guarded
against reuse by the process's start time) and reads the exit status the fork server recorded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
from pathlib import Path
from typing import Any, Awaitable, Callable

import psutil
import structlog

from lightning_ctl.agent.containment import WorkContainment
from lightning_ctl.agent.errors import FrameTooLargeError
from lightning_ctl.agent.framing import encode_frame, read_frame
from lightning_ctl.agent.home import WorkRecord
from lightning_ctl.agent.launcher import LaunchRequest, WorkHandle
from lightning_ctl.agent.output import OutputTail
from lightning_ctl.agent.work_logs import WorkLogFile
from lightning_ctl.protos import codec
from lightning_ctl.protos.limits import DEFAULT_MAX_ATTRIBUTE_BYTES, max_message_bytes
from lightning_ctl.sdk._agent_messages import RunnerInit
from lightning_ctl.sdk._app_server import CREDENTIAL_VAR as API_CREDENTIAL_VAR
from lightning_ctl.sdk._events import (
    EventBody,
    InvalidEvent,
    LaunchWork,
    LinesLogged,
    ProcessExited,
    RunCall,
    UpdateVars,
)
from lightning_ctl.sdk._storage_types import StorageReply, StorageRequest
from lightning_ctl.sdk._tasks import TaskOwner, cancel_and_wait
from lightning_ctl.sdk._work_log_format import log_path, logs_dir

log = structlog.get_logger(component="supervisor")

_ADOPTED_POLL_S = 0.2
_SPAWN_WAIT_S = 30.0
EXIT_STATUS_UNKNOWN = 255


class WorkSupervisor:
    """Owns one work process: starts or adopts it, feeds it messages, relays its output and events, stops it."""

    def __init__(
        self,
        launch: LaunchWork,
        socket_path: str,
        output_dir: str,
        exits_dir: str,
        emit: Callable[[str, int, EventBody], None],
        forward: Callable[[bytes], None],
        cwd: str | None = None,
        backed_up: Callable[[], bool] = lambda: False,
        max_attribute_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES,
        on_storage: Callable[[WorkSupervisor, StorageRequest], None] = lambda supervisor, request: None,
        cgroups_root: Path | None = None,
    ) -> None:
        self.record = WorkRecord(launch, cwd=cwd)
        self._cgroups_root = cgroups_root
        self.containment: WorkContainment | None = None
        """Every process of the work (its cgroup or its tag): made at start, or taken from the record on adoption."""
        self._socket_path = socket_path
        self._exits_dir = exits_dir
        prefix = os.path.join(output_dir, f"{launch.work_name}.{launch.attempt}")
        self.stdout_path, self.stderr_path = f"{prefix}.stdout", f"{prefix}.stderr"
        self._emit = emit
        self._forward = forward
        self._on_storage = on_storage
        self._backed_up = backed_up
        self._pending: list[bytes] = []
        self._writer: asyncio.StreamWriter | None = None
        self._connected = asyncio.Event()
        self._process: WorkHandle | None = None
        self.log = log.bind(work_name=launch.work_name, attempt=launch.attempt)
        self._tasks = TaskOwner(on_error=lambda name, exc: self.log.error("supervisor_task_failed", task=name,
                                                                           error=repr(exc)))
        self._tail_tasks: list[asyncio.Task[None]] = []
        self._spawned = asyncio.Event()
        self.max_frame_bytes = max_message_bytes(max_attribute_bytes)
        """The largest frame its process may send (sized for the attribute limit)."""
        self._tails: list[OutputTail] = []
        self._tails_stop = asyncio.Event()
        self.confirmed_output = (0, 0)
        """How much of stdout and stderr the control plane confirmed it has shown."""
        self.exit_event: ProcessExited | None = None
        self._runner_done = asyncio.Event()
        self._stop_requested: tuple[float, str] | None = None
        self.exited = asyncio.Event()
        self.log_file = WorkLogFile(log_path(logs_dir(Path(output_dir).parent), launch.work_name, launch.attempt))
        self._init_frame = self._queue(RunnerInit(launch.vars, launch.start_action, launch.work_class,
                                                  launch.init_args, max_attribute_bytes))

    @property
    def launch(self) -> LaunchWork:
        """The launch this process runs."""
        return self.record.launch

    @property
    def pid(self) -> int | None:
        """The work process's pid, once spawned."""
        return self._process.pid if self._process else None

    def run_from(self, app_path: str, cwd: str) -> None:
        """Run the work from an unpacked code bundle instead of the control plane's path."""
        self.record.launch = dataclasses.replace(self.launch, app_path=app_path)
        self.record.cwd = cwd

    def _environment(self) -> dict[str, str]:
        """What the work's environment adds to the agent's, its API key included.

        The key is set in the work's process alone, after the fork, so the fork server never holds it and
        preloads the app once for every work.
        """
        assert self.containment is not None
        env = {**self.launch.env, "PYTHONUNBUFFERED": "1", **self.containment.environment()}
        if self.launch.api_credential:
            env[API_CREDENTIAL_VAR] = self.launch.api_credential
        if self.launch.gpu_indices:
            env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
            env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in self.launch.gpu_indices)
        return env

    async def start(self, launch_process: Callable[[LaunchRequest], Awaitable[WorkHandle]]) -> None:
        """Start the work process, in its own session (so it has its own process group)."""
        for path in (self.stdout_path, self.stderr_path):  # a new process: not an earlier run's output
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        if self.containment is None:
            self.containment = WorkContainment.create(self._cgroups_root, self.launch.work_name, self.launch.attempt)
            self.record.cgroup, self.record.tag = self.containment.cgroup, self.containment.tag
        request = LaunchRequest(
            socket_path=self._socket_path,
            work_name=self.launch.work_name,
            attempt=self.launch.attempt,
            app_path=self.launch.app_path,
            app_env=self.launch.env,
            env=self._environment(),
            cwd=self.record.cwd,
            stdout_path=self.stdout_path,
            stderr_path=self.stderr_path,
        )
        self._process = await launch_process(request)
        self._spawned.set()
        self.record.pid = self._process.pid
        try:
            self.record.create_time = psutil.Process(self._process.pid).create_time()
        except psutil.NoSuchProcess:
            pass  # already gone: its exit is on its way
        self.log = self.log.bind(pid=self._process.pid)
        self.log.info("work_process_spawned")
        self._begin()

    def adopt(self, record: WorkRecord) -> None:
        """Take over a process a previous agent started (it reconnects to our socket by itself)."""
        self.record = record
        self.containment = WorkContainment(record.cgroup, record.tag)
        self.confirmed_output = (record.stdout_offset, record.stderr_offset)
        self._pending.remove(self._init_frame)  # it got its init from the agent that started it
        self._process = WorkHandle(record.pid, self._tasks.spawn(self._watch_adopted(), "watch"))
        self._spawned.set()
        self.log = self.log.bind(pid=record.pid)
        self.log.info("work_process_adopted")
        self._begin()

    def _begin(self) -> None:
        self._tails = [
            OutputTail(self.stdout_path, "stdout", self._emit_lines, self.record.stdout_offset, self._backed_up),
            OutputTail(self.stderr_path, "stderr", self._emit_lines, self.record.stderr_offset, self._backed_up),
        ]
        self._tail_tasks = [self._tasks.spawn(tail.follow(self._tails_stop), tail.stream) for tail in self._tails]
        self._tasks.spawn(self._wait_exit(), "exit")
        if self._stop_requested is not None:
            self._tasks.spawn(self.stop(*self._stop_requested), "stop")

    def _emit_lines(self, lines: LinesLogged) -> None:
        self._emit(self.launch.work_name, self.launch.attempt, lines)
        self.log_file.write(lines.stream, lines.lines)

    def confirm_output(self, stdout_offset: int, stderr_offset: int) -> None:
        """The control plane has shown the output up to these offsets."""
        self.confirmed_output = (max(self.confirmed_output[0], stdout_offset),
                                 max(self.confirmed_output[1], stderr_offset))

    def resend_unconfirmed(self) -> None:
        """A new session: relay again the output the control plane did not confirm, and the exit if there was one."""
        if not self.exited.is_set():
            for tail, offset in zip(self._tails, self.confirmed_output, strict=True):
                tail.rewind(offset)
            return
        for path, stream, offset in zip((self.stdout_path, self.stderr_path), ("stdout", "stderr"),
                                        self.confirmed_output, strict=True):
            tail = OutputTail(path, stream, self._emit_lines, offset)
            tail.read_available(final=True)
            tail.close()
        if self.exit_event is not None:
            self._emit(self.launch.work_name, self.launch.attempt, self.exit_event)

    def remove_output_files(self) -> None:
        """Delete the capture files (the work exited and its output is in the rotated log files)."""
        for path in (self.stdout_path, self.stderr_path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    async def _watch_adopted(self) -> int:
        """Wait for an adopted process to end; its status as the fork server recorded it, if it could."""
        # Not our child (an agent before this one started it): no wait() or exit notice reaches us, so poll it.
        while _is_running(self.record.pid, self.record.create_time):  # noqa: ASYNC110
            await asyncio.sleep(_ADOPTED_POLL_S)
        status = recorded_exit_status(self._exits_dir, self.record.pid)
        return EXIT_STATUS_UNKNOWN if status is None else status

    # -- the runner's connection ----------------------------------------------------------------------------------

    async def is_its_process(self, peer_pid: int) -> bool:
        """Whether ``peer_pid`` (the process that connected, 0 when unknown) is this work's process.

        A process that connects before its pid is known here (a fork is fast) waits until the launch returns.
        """
        if peer_pid == 0:
            return True
        try:
            await asyncio.wait_for(self._spawned.wait(), _SPAWN_WAIT_S)
        except asyncio.TimeoutError:
            return False
        return self.pid == peer_pid

    def attach(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, first: codec.RunnerFrame) -> None:
        """The runner connected (or reconnected): flush what was queued for it and relay its first message."""
        if first.hello is not None and first.hello.initialized and self._init_frame in self._pending:
            self._pending.remove(self._init_frame)  # a reconnection: it already has its init
        self._writer = writer
        for frame in self._pending:
            writer.write(frame)
        self._pending.clear()
        self._runner_done.clear()
        self._connected.set()
        self._relay(first)
        self._tasks.spawn(self._read_runner(reader, writer), "runner")

    def send_ack(self, seq: int) -> None:
        """Tell the work process the control plane has its events up to ``seq``."""
        if self._writer is not None:  # acks are not worth queueing: a later one covers this one
            self._writer.write(_frame(codec.EventsAcked(seq)))

    def request_resend(self) -> None:
        """Ask the work process to send its unacknowledged events again."""
        if self._writer is not None:
            self._writer.write(_frame(codec.ResendEvents()))

    def _queue(self, item: codec.SupervisorItem) -> bytes:
        frame = _frame(item)
        if self._writer is None:
            self._pending.append(frame)
        else:
            self._writer.write(frame)
        return frame

    def send_call(self, call: RunCall) -> None:
        """Queue a call for the work."""
        self._queue(call)

    def send_update(self, update: UpdateVars) -> None:
        """Pass the flow's attribute changes to the work."""
        self._queue(update)

    def send_storage_reply(self, reply: StorageReply) -> None:
        """Answer a storage request (dropped while the process is away: it asks again when it reconnects)."""
        if self._writer is not None:
            self._writer.write(_frame(reply))

    def _relay(self, message: codec.RunnerFrame) -> None:
        for event in message.events:
            self._forward(event)
        for request in message.storage:
            self._on_storage(self, request)

    async def _read_runner(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (frame := await read_frame(reader, self.max_frame_bytes)) is not None:
                self._relay(codec.runner_payload_from_bytes(frame))
        except (FrameTooLargeError, codec.CodecError) as exc:
            # Only a process that is not our runner sends these: the work fails, nothing else does.
            reason = f"work {self.launch.work_name} sent its agent an invalid message: {exc}"
            self.log.error("work_message_refused", reason=reason)
            self._emit(self.launch.work_name, self.launch.attempt, InvalidEvent(reason))
            writer.close()
        except (ConnectionError, OSError) as exc:  # the process died with its socket open: the exit tells the rest
            self.log.debug("runner_connection_lost", error=repr(exc))
        finally:
            if self._writer is writer:
                self._writer = None  # messages queue until the process reconnects
            self._runner_done.set()

    # -- the end --------------------------------------------------------------------------------------------------

    async def _wait_exit(self) -> None:
        assert self._process is not None
        try:
            returncode = await self._process.wait()
        except OSError:  # the fork server died: the process is no longer observable from here
            returncode = EXIT_STATUS_UNKNOWN
        await self._signal_all(signal.SIGKILL)  # nothing the work started outlives it, in its group or not
        # The last output and events go out before the exit does.
        self._tails_stop.set()
        waiters: list[asyncio.Future[Any]] = list(self._tail_tasks)
        if self._connected.is_set():
            waiters.append(asyncio.ensure_future(self._runner_done.wait()))
        try:
            await asyncio.wait(waiters, timeout=2.0)
        finally:
            await cancel_and_wait(*waiters[len(self._tail_tasks):])
        exit_code, sig = (0, -returncode) if returncode < 0 else (returncode, 0)
        exit_event = self.exit_event = ProcessExited(self._process.pid, exit_code, sig)
        self.log.info("work_process_exited", reason=exit_event.describe())
        self._emit(self.launch.work_name, self.launch.attempt, exit_event)
        self.log_file.close()
        if self._writer is not None:
            self._writer.close()
        self.exited.set()

    async def close(self) -> None:
        """Stop following the process (its output, its exit) without stopping it: cancel and await every task."""
        await self._tasks.close()

    async def _signal_all(self, sig: signal.Signals) -> None:
        """``sig`` to every process of the work.

        Its group, and its cgroup's members or the processes carrying its tag (processes left the group with
        setsid, daemons).
        """
        if self._process is not None and self.containment is not None:
            await asyncio.to_thread(self.containment.signal_all, self._process.pid, sig)

    def release(self) -> None:
        """Forget the work's cgroup (blocking: call it off the event loop) once its processes are gone."""
        if self.containment is not None:
            self.containment.release()

    async def stop(self, grace_s: float, reason: str) -> None:
        """SIGTERM to the work's process group; SIGKILL if it has not exited after ``grace_s``."""
        if self._process is None:
            self._stop_requested = (grace_s, reason)  # still starting: stopped as soon as it exists
            return
        if self.exited.is_set():
            return
        self.log.info("work_stopping", reason=reason, grace_s=grace_s)
        await self._signal_all(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self.exited.wait()), timeout=grace_s)
        except asyncio.TimeoutError:
            self.log.warning("work_killed_after_grace", grace_s=grace_s)
            await self._signal_all(signal.SIGKILL)
            await self.exited.wait()


def recorded_exit_status(exits_dir: str, pid: int) -> int | None:
    """How process ``pid`` ended, as the fork server recorded it (None: no record)."""
    try:
        return int(json.loads((Path(exits_dir) / f"{pid}.json").read_text())["returncode"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def left_no_trace(record: WorkRecord, exits_dir: str) -> bool:
    """Whether the process of ``record`` is gone without an exit status.

    It ended while no agent or fork server of this home was there to see it (its machine restarted).
    """
    return not _is_running(record.pid, record.create_time) and recorded_exit_status(exits_dir, record.pid) is None


def _is_running(pid: int, create_time: float) -> bool:
    """Whether ``pid`` is still the process that started at ``create_time`` (not a later one reusing the pid)."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and abs(process.create_time() - create_time) < 0.01
    except psutil.NoSuchProcess:
        return False


def _frame(item: codec.SupervisorItem) -> bytes:
    """One framed message for the work process (no size limit on this side: the work trusts its agent)."""
    payload = codec.supervisor_payload(item)
    return encode_frame(payload, max_bytes=len(payload))
