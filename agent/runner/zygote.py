"""The work fork server: a single-threaded process that has imported the runner and the app, and forks works.

A cold work process spends most of its start importing Python modules; forked from here it starts in a few
milliseconds and shares those pages. No gRPC object ever exists in this process (grpc is not even imported), so
forking it is safe. The agent talks to it over a SOCK_SEQPACKET socket (its fd is the first argument): each request carries the work's
stdout and stderr pipes as file descriptors; each reply is JSON.

    agent ─► {"work_name", "attempt", "socket_path", "app_path", "env", "cwd"} + [stdout fd, stderr fd]
    zygote ─► {"request": id, "pid": pid}            after forking
    zygote ─► {"exited": pid, "returncode": code}    when a work process ends (negative: killed by a signal)
    agent ─► {"preload": app_path, "app_env": {...}}  load the app ahead of the first launch

When the agent goes away the fork server stays, reaping its works and recording how they end, so that a restarted
agent (found through the agent's pid file) can adopt them. If no agent comes back within the orphan timeout
(``orphans.OrphanRule``), it stops them (SIGTERM to each work's process group, SIGKILL after the grace period),
says so on its standard error (the agent's log), and exits once they are gone.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import sys
import time
from typing import Any

from lightning_ctl.agent.runner import cgroups, work_process
from lightning_ctl.agent.runner.orphans import OrphanRule, OrphanSettings, agent_running
from lightning_ctl.sdk._files import write_atomic
from lightning_ctl.sdk._loader import load_app

_MAX_MESSAGE = 1 << 20


class Zygote:
    """Loads the app once and forks one process per work launch."""

    def __init__(self, control: socket.socket, exits_dir: str, orphans: OrphanSettings | None = None) -> None:
        self.control = control
        self.exits_dir = exits_dir
        self.orphans = OrphanRule(orphans or OrphanSettings())
        self.children: set[int] = set()
        self.preloaded: dict[tuple[str, str], Any] = {}
        self._wakeup_r, self._wakeup_w = os.pipe()
        os.set_blocking(self._wakeup_w, False)
        signal.set_wakeup_fd(self._wakeup_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select through the wakeup fd

    def serve(self) -> None:
        """Serve fork requests until the agent is gone, then keep reaping until no work process is left.

        Outliving the agent is what lets a restarted agent learn how its works ended: the exit status of each
        process is written to ``exits_dir`` as it is reaped.
        """
        agent_gone = False
        while not (agent_gone and not self.children):
            watched: list[socket.socket | int] = [self._wakeup_r] if agent_gone else [self.control, self._wakeup_r]
            readable, _, _ = select.select(watched, [], [], 1.0)
            if agent_gone:
                self._apply_orphan_rule()
            if self._wakeup_r in readable:
                os.read(self._wakeup_r, 4096)
                self._reap()
            if self.control in readable:
                try:
                    message, fds, _, _ = socket.recv_fds(self.control, _MAX_MESSAGE, 2)
                except ConnectionError:
                    message = b""
                if not message:
                    agent_gone = True  # the works keep running in their own sessions; we keep reaping
                    continue
                request = json.loads(message)
                if "preload" in request:
                    self._preload(request["preload"], request["app_env"])
                else:
                    self._fork(request, fds)
            self._reap()

    def _apply_orphan_rule(self) -> None:
        settings = self.orphans.settings
        decision = self.orphans.decide(time.monotonic(), agent_running(settings.agent_pid_file))
        works = sorted(self.children)
        if decision == "orphaned":
            self._log("warning", "fork_server_orphaned", works=works, keep_works_for_s=settings.timeout_s,
                      reason="its agent is gone")
        elif decision == "adopted":
            self._log("info", "fork_server_agent_back", works=works)
        elif decision in ("stop", "kill"):
            if decision == "stop":
                self._log("warning", "orphaned_works_stopped", works=works, grace_s=settings.stop_grace_s,
                          reason=f"no agent came back within the orphan timeout ({settings.timeout_s:g}s)")
            else:
                self._log("warning", "orphaned_works_killed", works=works, reason="they ignored SIGTERM")
            sig = signal.SIGTERM if decision == "stop" else signal.SIGKILL
            for pid in works:
                cgroup = cgroups.work_cgroup_of(pid)
                if cgroup is not None:  # what the work started outside its process group too
                    cgroups.signal_members(cgroup, sig)
                cgroups.signal_group(pid, sig)

    def _log(self, level: str, event: str, **values: Any) -> None:
        """A log line on standard error (the agent's log), shaped like the agent's own (no structlog here)."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        values = {"component": "fork_server", "pid": os.getpid(), **values}
        if self.orphans.settings.log_format == "json":
            line = json.dumps({"event": event, "level": level, "timestamp": stamp, **values})
        else:
            line = f"{stamp} [{level:<9}] {event:<30} " + " ".join(f"{k}={v!r}" for k, v in sorted(values.items()))
        try:
            print(line, file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass  # nobody reads the agent's log any more

    def _send(self, reply: dict[str, Any]) -> None:
        try:
            self.control.send(json.dumps(reply).encode())
        except OSError:
            pass

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            returncode = os.waitstatus_to_exitcode(status)
            record_exit(self.exits_dir, pid, returncode)
            self._send({"exited": pid, "returncode": returncode})

    def _preload(self, app_path: str, env: dict[str, str]) -> Any:
        """The app loaded in this process (once per app file and environment), or None if it failed to load."""
        key = (app_path, json.dumps(env, sort_keys=True))
        if key not in self.preloaded:
            saved = dict(os.environ)
            os.environ.update(env)
            try:
                self.preloaded[key] = load_app(app_path)
                gc.freeze()  # forked works' collections then leave these pages shared instead of copying them
            except BaseException:  # noqa: BLE001 - the forked work reloads it and reports the error itself
                self.preloaded[key] = None
            finally:
                os.environ.clear()
                os.environ.update(saved)
        return self.preloaded[key]

    def _fork(self, request: dict[str, Any], fds: list[int]) -> None:
        preloaded = self._preload(request["app_path"], request.get("app_env", {}))
        pid = os.fork()
        if pid == 0:
            self._become_work(request, fds, preloaded)  # never returns
        self.children.add(pid)
        for fd in fds:
            os.close(fd)
        self._send({"request": request["request"], "pid": pid})

    def _become_work(self, request: dict[str, Any], fds: list[int], preloaded: Any) -> None:
        try:
            os.setsid()
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            self.control.close()
            os.close(self._wakeup_r)
            os.close(self._wakeup_w)
            devnull = os.open(os.devnull, os.O_RDONLY)
            os.dup2(devnull, 0)
            os.dup2(fds[0], 1)
            os.dup2(fds[1], 2)
            for fd in (devnull, *fds):
                os.close(fd)
            os.environ.update(request["env"])
            if request.get("cwd"):
                os.chdir(request["cwd"])
            sys.stdout = os.fdopen(1, "w", buffering=1, errors="backslashreplace")
            sys.stderr = os.fdopen(2, "w", buffering=1, errors="backslashreplace")
            work_process.run(
                request["socket_path"], request["work_name"], request["attempt"], request["app_path"], preloaded
            )
        except BaseException:  # noqa: BLE001 - a child must never return into the zygote's loop
            import traceback

            traceback.print_exc()
        finally:
            os._exit(1)


def record_exit(exits_dir: str, pid: int, returncode: int) -> None:
    """Write ``<exits_dir>/<pid>.json`` atomically: how the process ended, for an agent that was not there."""
    try:
        write_atomic(os.path.join(exits_dir, f"{pid}.json"), json.dumps({"pid": pid, "returncode": returncode}))
    except OSError:
        pass  # the message to the agent still carries it when the agent is there


def main() -> None:
    """Entry point: ``python -m lightning_ctl.agent.runner.zygote FD EXITS_DIR [ORPHAN_SETTINGS_JSON]``.

    FD is the control socket.
    """
    orphans = OrphanSettings(**json.loads(sys.argv[3])) if len(sys.argv) > 3 else OrphanSettings()
    Zygote(socket.socket(fileno=int(sys.argv[1])), sys.argv[2], orphans).serve()


if __name__ == "__main__":
    main()
