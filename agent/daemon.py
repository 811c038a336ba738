"""AgentDaemon: the agent's wiring: the local socket for work processes, the supervisors, the outbound events.

Work events are numbered here, per (work_name, attempt), as they leave for the control plane; commands from the
control plane are routed to the supervisor of their work. Launches are idempotent per (work_name, attempt).
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, Callable

import structlog

from lightning_ctl.agent.bundles import BundleCache, BundleError
from lightning_ctl.agent.endpoints import WorkEndpoints
from lightning_ctl.agent.errors import FrameTooLargeError, PortUnavailableError
from lightning_ctl.agent.framing import read_frame
from lightning_ctl.agent.home import AgentHome
from lightning_ctl.agent.launcher import ZygoteLauncher, exec_work
from lightning_ctl.agent.ports import PortRange
from lightning_ctl.agent.runner import cgroups
from lightning_ctl.agent.supervisor import WorkSupervisor, left_no_trace
from lightning_ctl.agent.tunnels import OpenCall, run_tunnel
from lightning_ctl.agent.work_storage import AgentStorage
from lightning_ctl.protos import codec
from lightning_ctl.protos.limits import DEFAULT_MAX_ATTRIBUTE_BYTES, max_message_bytes
from lightning_ctl.sdk._agent_messages import OpenTunnel
from lightning_ctl.sdk._events import (
    Command,
    EventBody,
    LaunchWork,
    LinesLogged,
    ProcessExited,
    RunCall,
    StopWork,
    UpdateVars,
    WorkEndpoint,
)
from lightning_ctl.sdk._storage_types import StorageRequest, UploadRequested
from lightning_ctl.sdk._tasks import TaskOwner

log = structlog.get_logger(component="agent")

WorkKey = tuple[str, int]
_OUTBOX_HIGH_WATER = 200
_HELLO_TIMEOUT_S = 10.0
_PERSIST_INTERVAL_S = 1.0
_LAUNCH_RETRY_DELAYS_S = (0.1, 0.5)
"""Waits before each new try of a launch whose fork or exec failed (then the work fails, naming the error)."""
_EXITED_RETENTION_S = 60.0
"""How long an exited work's end (exit status, output files) is kept to be sent again after a reconnection."""


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    """One work event on its way to the control plane, serialized (the agent relays what works send unread)."""

    payload: bytes
    is_output: bool = False
    """Output lines the agent read from a capture file (read again after a reconnection, so droppable)."""


@dataclass
class Outbox:
    """Work events waiting to go to the control plane.

    Events from work processes keep the seq their process gave them (the process keeps each one until the
    control plane acknowledges it, and sends it again after any reconnection); events the agent observes itself
    (output, exits) carry seq 0 and are idempotent on the control plane.
    """

    queue: asyncio.Queue[OutgoingEvent] = field(default_factory=asyncio.Queue)

    def put(self, payload: bytes) -> None:
        """Queue an event of a work process, as it is."""
        self.queue.put_nowait(OutgoingEvent(payload))

    def drop_output(self) -> None:
        """Forget the output lines waiting to go (they are read again from the capture files), keeping events."""
        kept = []
        while not self.queue.empty():
            event = self.queue.get_nowait()
            if not event.is_output:
                kept.append(event)
        for event in kept:
            self.queue.put_nowait(event)

    def backed_up(self) -> bool:
        """Whether enough is waiting that output readers should pause (their files hold the rest)."""
        return self.queue.qsize() >= _OUTBOX_HIGH_WATER

    def put_body(self, work_name: str, attempt: int, body: EventBody) -> None:
        """Queue an event the agent itself observed (output, exit)."""
        payload = codec.event_bytes(work_name, attempt, body)
        self.queue.put_nowait(OutgoingEvent(payload, is_output=isinstance(body, LinesLogged)))


class AgentDaemon:
    """Runs works on this machine for one control plane."""

    def __init__(self, home: AgentHome, work_dir: str | None = None, launcher: ZygoteLauncher | None = None,
                 use_cgroups: bool = True, advertise_address: str = "127.0.0.1",
                 ports: PortRange | None = None) -> None:
        self.home = home
        self._use_cgroups = use_cgroups
        self._cgroups_root: Path | None = None
        self.outbox = Outbox()
        self._launcher = launcher
        self.bundles = BundleCache(Path(work_dir) / "lightning-bundles" if work_dir else home.bundles_dir)
        self.fetch_bundle: Callable[[str], AsyncIterator[bytes]] | None = None
        self.open_tunnel_call: OpenCall | None = None
        """Opens a Tunnel stream to the control plane (set by the session)."""
        self.endpoints = WorkEndpoints(advertise_address, ports, self.outbox.put_body)
        self.supervisors: dict[WorkKey, WorkSupervisor] = {}
        self._recently_exited: dict[WorkKey, WorkSupervisor] = {}
        self._work_dir = work_dir
        self.socket_path = home.socket_path
        self._server: asyncio.base_events.Server | None = None
        self._tasks = TaskOwner(on_error=lambda name, exc: log.error("agent_task_failed", task=name, error=repr(exc)))
        self._saved: str = ""
        self.storage = AgentStorage()
        self._storage_requests: set[tuple[str, int, int]] = set()
        self.max_attribute_bytes = DEFAULT_MAX_ATTRIBUTE_BYTES
        """The control plane's attribute limit (from its welcome): what works are told, and sizes their frames."""

    def set_max_attribute_bytes(self, limit: int) -> None:
        """Take the control plane's attribute limit (0: the protocol's default) for the works started from now."""
        self.max_attribute_bytes = limit or DEFAULT_MAX_ATTRIBUTE_BYTES
        for supervisor in self.supervisors.values():
            supervisor.max_frame_bytes = max(supervisor.max_frame_bytes, max_message_bytes(self.max_attribute_bytes))

    async def start(self) -> None:
        """Listen for work processes on the local socket and take over those a previous agent left running."""
        try:
            os.unlink(self.socket_path)  # left by a previous agent of this home
        except FileNotFoundError:
            pass
        self._server = await asyncio.start_unix_server(self._accept, path=self.socket_path)
        os.chmod(self.socket_path, 0o600)
        if self._use_cgroups:
            self._cgroups_root = cgroups.works_root(self.home.cgroup_name)
        log.info("work_containment", cgroups=str(self._cgroups_root) if self._cgroups_root else None,
                 fallback=None if self._cgroups_root else "descendants and tagged processes, found with psutil")
        adopted = []
        for record in self.home.load_records():
            if left_no_trace(record, str(self.home.exits_dir)):
                # Not adopted: it would report an exit it never made, and hold its (work, attempt) against the launch
                # of a new run. The control plane learns it is gone from its absence in this agent's registration.
                log.warning("work_process_gone", work_name=record.launch.work_name, attempt=record.launch.attempt,
                            pid=record.pid, reason="it ended while no agent watched it and left no exit status "
                            "(the machine restarted?)")
                continue
            supervisor = self._supervisor(record.launch, record.cwd)
            supervisor.adopt(record)
            self.endpoints.adopt(record.launch)
            adopted.append(supervisor)
        for supervisor in adopted:  # persisting only now: a crash halfway must not forget the others
            self._watch(supervisor, persist=False)
        self.persist()
        self._tasks.spawn(self._persist_periodically(), "persist")

    def _supervisor(self, launch: LaunchWork, cwd: str | None) -> WorkSupervisor:
        supervisor = WorkSupervisor(launch, self.socket_path, str(self.home.output_dir), str(self.home.exits_dir),
                                    self.outbox.put_body, self.outbox.put, cwd, self.outbox.backed_up,
                                    self.max_attribute_bytes, self._on_storage_request, self._cgroups_root)
        self.supervisors[(launch.work_name, launch.attempt)] = supervisor
        return supervisor

    def _watch(self, supervisor: WorkSupervisor, persist: bool = True) -> None:
        """Keep the works record current: forget the process once it exited (keeping its end for a while)."""
        key = (supervisor.launch.work_name, supervisor.launch.attempt)
        if not supervisor.launch.rendezvous:  # a probe would be one more peer at a gang's rendezvous
            self.endpoints.watch(key, supervisor.launch.readiness_path)

        async def forget_on_exit() -> None:
            await supervisor.exited.wait()
            self.endpoints.release(key)  # first: a new attempt of the work may be on its way for the same port
            await supervisor.close()
            await asyncio.to_thread(supervisor.release)
            self.supervisors.pop(key, None)
            self._recently_exited[key] = supervisor
            self.persist()
            await asyncio.sleep(_EXITED_RETENTION_S)  # a new session in this window gets its end again
            self._recently_exited.pop(key, None)
            supervisor.remove_output_files()

        self._tasks.spawn(forget_on_exit(), f"forget {supervisor.launch.work_name}")
        if persist:
            self.persist()

    def persist(self) -> None:
        """Write the works record (when it changed), with how much of each output was relayed."""
        records = []
        for supervisor in self.supervisors.values():
            if supervisor.record.pid and not supervisor.exited.is_set():
                record = supervisor.record
                record.stdout_offset, record.stderr_offset = supervisor.confirmed_output
                records.append(record)
        snapshot = repr(records)
        if snapshot != self._saved:
            self._saved = snapshot
            self.home.save_records(records)

    async def _persist_periodically(self) -> None:
        while True:
            await asyncio.sleep(_PERSIST_INTERVAL_S)
            self.persist()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A work process connected: it says which work it is; only that work's own process is believed."""
        try:
            frame = await asyncio.wait_for(read_frame(reader, max_message_bytes(self.max_attribute_bytes)),
                                           _HELLO_TIMEOUT_S)
            first = codec.runner_payload_from_bytes(frame) if frame is not None else None
        except (asyncio.TimeoutError, FrameTooLargeError, codec.CodecError, OSError) as exc:
            log.warning("work_process_refused", reason=f"{type(exc).__name__}: {exc}")
            writer.close()
            return
        if first is None or first.hello is None:
            writer.close()
            return
        key = (first.hello.work_name, first.hello.attempt)
        supervisor = self.supervisors.get(key)
        if supervisor is None:
            log.warning("unknown_work_process_connected", work_name=key[0], attempt=key[1])
            writer.close()
            return
        peer = _peer_pid(writer)
        if not await supervisor.is_its_process(peer):
            log.warning("work_process_refused", work_name=key[0], attempt=key[1], peer_pid=peer,
                        reason="the connecting process is not that work's process")
            writer.close()
            return
        supervisor.attach(reader, writer, first)

    def acknowledge(self, work_name: str, attempt: int, seq: int) -> None:
        """The control plane applied the work's events up to ``seq``: its process may forget them."""
        supervisor = self.supervisors.get((work_name, attempt))
        if supervisor is not None:
            supervisor.send_ack(seq)

    def resend_unacknowledged(self) -> None:
        """A new session with the control plane.

        Every work process sends its unacknowledged events again, and the output (and exits) the control plane
        did not confirm go again too.

        Output goes again from what the control plane confirmed, in order: lines still queued are dropped first, so
        that no later line can arrive ahead of an earlier one lost with the previous session.
        """
        self.outbox.drop_output()
        self.endpoints.resend()
        for supervisor in self.supervisors.values():
            supervisor.request_resend()
            supervisor.resend_unconfirmed()
        for supervisor in self._recently_exited.values():
            supervisor.resend_unconfirmed()

    def confirm_output(self, work_name: str, attempt: int, stdout_offset: int, stderr_offset: int) -> None:
        """The control plane has shown this much of the work's output."""
        key = (work_name, attempt)
        supervisor = self.supervisors.get(key) or self._recently_exited.get(key)
        if supervisor is not None:
            supervisor.confirm_output(stdout_offset, stderr_offset)

    def _on_storage_request(self, supervisor: WorkSupervisor, request: StorageRequest) -> None:
        """A work process asks for files: serve it (once, however often it asks while that is in flight)."""
        work_key = (supervisor.launch.work_name, supervisor.launch.attempt)
        key = (*work_key, request.request_id)
        if key in self._storage_requests:
            return
        self._storage_requests.add(key)

        async def serve() -> None:
            try:
                reply = await self.storage.handle(work_key[0], request)
            finally:
                self._storage_requests.discard(key)
            (self.supervisors.get(work_key) or supervisor).send_storage_reply(reply)

        self._tasks.spawn(serve(), f"storage request {request.request_id} of {work_key[0]}")

    def handle(self, command: Command | UploadRequested | OpenTunnel) -> None:
        """Carry out one command from the control plane."""
        if isinstance(command, LaunchWork):
            self._launch(command)
            return
        if isinstance(command, OpenTunnel):
            if self.open_tunnel_call is not None:
                target = self.endpoints.target(command.work_name, command.attempt)
                self._tasks.spawn(run_tunnel(self.open_tunnel_call, command.tunnel_id, target, command.work_name))
            return
        supervisor = self.supervisors.get((command.work_name, command.attempt))
        if supervisor is None:
            log.warning("command_for_unknown_work", work_name=command.work_name, attempt=command.attempt,
                        command=type(command).__name__)
            return
        if isinstance(command, UploadRequested):
            self._tasks.spawn(self.storage.upload_on_demand(command, supervisor.record.cwd or os.getcwd()),
                              f"upload for {command.work_name}")
        elif isinstance(command, RunCall):
            supervisor.send_call(command)
        elif isinstance(command, UpdateVars):
            supervisor.send_update(command)
        elif isinstance(command, StopWork):
            self._tasks.spawn(supervisor.stop(command.grace_s, command.reason), f"stop {command.work_name}")

    def _launch(self, launch: LaunchWork) -> None:
        key = (launch.work_name, launch.attempt)
        if key in self.supervisors:
            return  # a repeated launch of the same attempt never starts a second process
        try:
            launch = self.endpoints.assign(launch)
        except PortUnavailableError as exc:
            log.error("work_port_unavailable", work_name=launch.work_name, attempt=launch.attempt, reason=str(exc))
            self.outbox.put_body(launch.work_name, launch.attempt, WorkEndpoint("", 0, "", error=str(exc)))
            self.outbox.put_body(launch.work_name, launch.attempt, ProcessExited(0, 1, reason=str(exc)))
            return
        # Registered before the process exists, so the calls that follow the launch queue up behind it.
        supervisor = self._supervisor(launch, self._work_dir)
        self._tasks.spawn(self._start(supervisor), f"start {launch.work_name}")

    async def _start(self, supervisor: WorkSupervisor) -> None:
        """Fetch the work's code bundle if it has one, then start its process."""
        launch = supervisor.launch
        if launch.bundle_digest:
            try:
                if self.fetch_bundle is None:
                    raise BundleError(f"{launch.bundle_digest}: no connection to fetch it from")
                folder = await self.bundles.ensure(launch.bundle_digest, self.fetch_bundle)
            except Exception as exc:  # noqa: BLE001 - reported as the work's failure
                log.error("bundle_fetch_failed", work_name=launch.work_name, error=str(exc))
                self._fail_launch(supervisor, f"the agent could not get the app's code: {exc}")
                return
            supervisor.run_from(str(folder / launch.app_relpath), str(folder))
        launch_process = self._launcher.launch if self._launcher else exec_work
        for attempt, delay_s in enumerate((*_LAUNCH_RETRY_DELAYS_S, None), start=1):
            try:
                await supervisor.start(launch_process)
                break
            except OSError as exc:  # fork or exec failed (EAGAIN, ENOMEM, EMFILE...): maybe a passing shortage
                if delay_s is None:
                    log.error("work_launch_failed", work_name=launch.work_name, attempts=attempt, error=str(exc))
                    self._fail_launch(supervisor, f"the agent could not start the work's process: {exc}")
                    return
                log.warning("work_launch_retried", work_name=launch.work_name, error=str(exc), delay_s=delay_s)
                await asyncio.sleep(delay_s)
        self._watch(supervisor)

    def _fail_launch(self, supervisor: WorkSupervisor, reason: str) -> None:
        """The work's process could not be started: its end is reported at once, with ``reason``.

        The control plane restarts or fails the work as for any process that ended.
        """
        launch = supervisor.launch
        self.supervisors.pop((launch.work_name, launch.attempt), None)
        self.endpoints.release((launch.work_name, launch.attempt))
        supervisor.release()
        self.outbox.put_body(launch.work_name, launch.attempt, ProcessExited(0, 1, reason=reason))

    def running_work_names(self) -> list[str]:
        """The works whose process runs here."""
        return sorted(s.launch.work_name for s in self.supervisors.values() if s.pid and not s.exited.is_set())

    async def stop_all(self, grace_s: float, reason: str) -> None:
        """Stop every running work (used when the app ends or the agent's owner is gone)."""
        await asyncio.gather(*(s.stop(grace_s, reason) for s in list(self.supervisors.values())))

    async def close(self) -> None:
        """Stop listening and remove the socket (works keep running); every task of the agent is ended."""
        if self._launcher is not None:
            self._launcher.close()
        self.endpoints.close()
        if self._server is not None:
            self._server.close()
        self.persist()
        await self._tasks.close()
        for supervisor in (*self.supervisors.values(), *self._recently_exited.values()):
            await supervisor.close()
            if supervisor.exited.is_set():
                await asyncio.to_thread(supervisor.release)
        if self._cgroups_root is not None:
            cgroups.remove(self._cgroups_root, timeout_s=0)  # only once no work of ours is left in it
        try:
            os.unlink(self.socket_path)
        except OSError:
            pass


def _peer_pid(writer: asyncio.StreamWriter) -> int:
    """The pid of the process at the other end of a Unix socket (0 when the system does not say)."""
    sock = writer.get_extra_info("socket")
    try:
        credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (OSError, AttributeError):
        return 0
    return struct.unpack("3i", credentials)[0]
