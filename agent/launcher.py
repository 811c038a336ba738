"""Starting work processes: forked from a pre-loaded fork server (fast), or exec'd cold (the fallback).

Either way a work process runs ``agent.runner`` in its own session, with stdout and stderr appended to capture
files the agent tails (files, not pipes: a work must not get EPIPE when its agent dies), and its exit status is
reported to the agent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import socket
import subprocess
from dataclasses import dataclass
from typing import Any

import structlog

from lightning_ctl.agent.runner.orphans import OrphanSettings
from lightning_ctl.sdk._launch import module_command

log = structlog.get_logger(component="launcher")


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """What a launcher needs to start one work process."""

    socket_path: str
    work_name: str
    attempt: int
    app_path: str
    app_env: dict[str, str]
    env: dict[str, str]
    """Variables to set on top of the agent's own environment."""
    cwd: str | None
    stdout_path: str
    stderr_path: str

    def open_output(self) -> tuple[int, int]:
        """File descriptors appending to the capture files (the caller closes them)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        return os.open(self.stdout_path, flags, 0o600), os.open(self.stderr_path, flags, 0o600)


class WorkHandle:
    """A started work process: its pid and a way to await its exit status."""

    def __init__(self, pid: int, exit_status: asyncio.Future[int]) -> None:
        self.pid = pid
        self._exit_status = exit_status

    async def wait(self) -> int:
        """The exit status: the exit code, or minus the signal that killed it."""
        return await self._exit_status


async def exec_work(request: LaunchRequest) -> WorkHandle:
    """Start a cold ``python -m agent.runner`` process."""
    out, err = request.open_output()
    try:
        process = await asyncio.create_subprocess_exec(
            *module_command("lightning_ctl.agent.runner", request.socket_path, request.work_name,
                            str(request.attempt), request.app_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            env={**os.environ, **request.env},
            cwd=request.cwd,
        )
    finally:
        os.close(out)
        os.close(err)
    return WorkHandle(process.pid, asyncio.ensure_future(process.wait()))


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ZygoteLauncher:
    """One fork server per (app file, environment); started on first use, kept for the agent's life."""

    def __init__(self, exits_dir: str, orphans: OrphanSettings | None = None) -> None:
        self._exits_dir = exits_dir
        self._orphans = orphans or OrphanSettings()
        self._zygotes: dict[str, _Zygote] = {}
        self._spare: _Zygote | None = None

    @staticmethod
    def _key(app_path: str, app_env: dict[str, str]) -> str:
        # Variables the agent already has do not change what the app's module-level code sees.
        own = {k: v for k, v in app_env.items() if os.environ.get(k) != v}
        return json.dumps([app_path, own], sort_keys=True)

    def prestart(self, app_path: str | None = None) -> None:
        """Start a fork server now (loading ``app_path`` at once, if given), to overlap it with the agent's start."""
        try:
            zygote = _Zygote(self._exits_dir, self._orphans)
        except OSError as exc:
            log.warning("fork_server_unavailable", error=str(exc))
            return
        if app_path is None:
            self._spare = zygote
            return
        zygote.preload(app_path)
        self._zygotes[self._key(app_path, {})] = zygote

    async def launch(self, request: LaunchRequest) -> WorkHandle:
        """Fork a work process; falls back to exec when the fork server is not available."""
        key = self._key(request.app_path, request.app_env)
        zygote = self._zygotes.get(key)
        if zygote is None or not zygote.alive:
            spare, self._spare = self._spare, None
            try:
                fresh = spare if spare is not None and spare.alive else _Zygote(self._exits_dir, self._orphans)
                zygote = self._zygotes[key] = fresh
            except OSError as exc:
                log.warning("fork_server_unavailable", error=str(exc))
                return await exec_work(request)
        try:
            return await zygote.fork(request)
        except OSError as exc:
            log.warning("fork_server_failed", error=str(exc), work_name=request.work_name)
            return await exec_work(request)

    def close(self) -> None:
        """Stop the fork servers (the works they started keep running)."""
        for zygote in (*self._zygotes.values(), *([self._spare] if self._spare else [])):
            zygote.close()


class _Zygote:
    """The agent's end of one fork server."""

    def __init__(self, exits_dir: str, orphans: OrphanSettings) -> None:
        self._socket, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = subprocess.Popen(
                module_command("lightning_ctl.agent.runner.zygote", str(child_end.fileno()), exits_dir,
                               json.dumps(dataclasses.asdict(orphans))),
                pass_fds=(child_end.fileno(),),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            child_end.close()
        self._ids = itertools.count(1)
        self._pids: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self.alive = True
        self._reading = False
        self._send_lock = asyncio.Lock()
        self._waiting_writable: asyncio.Future[None] | None = None

    def preload(self, app_path: str) -> None:
        """Have the fork server load the app now (sent before the agent's event loop runs)."""
        self._socket.send(json.dumps({"preload": app_path, "app_env": {}}).encode())

    def _start_reading(self) -> None:
        if not self._reading:
            self._reading = True
            self._socket.setblocking(False)
            asyncio.get_running_loop().add_reader(self._socket.fileno(), self._on_readable)

    def _exit_future(self, pid: int) -> asyncio.Future[int]:
        future = self._exits.get(pid)
        if future is None:
            future = self._exits[pid] = asyncio.get_running_loop().create_future()
        return future

    def _on_readable(self) -> None:
        while True:
            try:
                data = self._socket.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._lost()
                return
            reply: dict[str, Any] = json.loads(data)
            if "exited" in reply:
                future = self._exit_future(reply["exited"])
                if not future.done():
                    future.set_result(reply["returncode"])
            elif (waiter := self._pids.pop(reply["request"], None)) is not None and not waiter.done():
                waiter.set_result(reply["pid"])

    def _lost(self) -> None:
        self.close()
        for future in self._exits.values():
            if not future.done():
                future.set_exception(OSError("the fork server exited"))

    async def fork(self, request: LaunchRequest) -> WorkHandle:
        self._start_reading()
        out_w, err_w = request.open_output()
        request_id = next(self._ids)
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pids[request_id] = waiter
        message = {
            "request": request_id,
            "socket_path": request.socket_path,
            "work_name": request.work_name,
            "attempt": request.attempt,
            "app_path": request.app_path,
            "app_env": request.app_env,
            "env": request.env,
            "cwd": request.cwd,
        }
        try:
            await self._send_with_fds(json.dumps(message).encode(), [out_w, err_w])
        except OSError:
            self._pids.pop(request_id, None)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        pid = await waiter
        return WorkHandle(pid, self._exit_future(pid))

    async def _send_with_fds(self, data: bytes, fds: list[int]) -> None:
        """Send one message with ``fds`` attached, waiting while the socket's buffer is full.

        One sender at a time: a second writer waiting on the same socket would replace the first one's wake-up
        (the event loop keeps one writer callback per descriptor) and leave its launch hanging for ever.
        """
        async with self._send_lock:
            while True:
                if not self.alive:
                    raise OSError("the fork server exited")
                try:
                    socket.send_fds(self._socket, [data], fds)
                    return
                except BlockingIOError:
                    await self._writable()

    async def _writable(self) -> None:
        loop = asyncio.get_running_loop()
        fd = self._socket.fileno()
        self._waiting_writable = loop.create_future()
        loop.add_writer(fd, _settle, self._waiting_writable)
        try:
            await self._waiting_writable
        finally:
            self._waiting_writable = None
            if self.alive:
                loop.remove_writer(fd)

    def close(self) -> None:
        """Stop talking to the fork server (its works keep running); launches under way fail."""
        if not self.alive:
            return
        self.alive = False
        if self._reading:
            asyncio.get_running_loop().remove_reader(self._socket.fileno())
        if self._waiting_writable is not None:
            asyncio.get_running_loop().remove_writer(self._socket.fileno())
            _settle(self._waiting_writable)  # the sender wakes, sees the server gone, and fails its launch
        for waiter in self._pids.values():
            if not waiter.done():
                waiter.set_exception(OSError("the fork server was closed"))
        self._socket.close()
