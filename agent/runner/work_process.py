"""The life of one work process: load the app, find the work, run its calls, report everything, stop cleanly.

connect ─► init (flow's view) ─► on_start ─► [started] ─► wait for a call ─► running ─► run() ─┐
                                                             ▲                                 │
                                                             └── succeeded / failed ◄──────────┘
SIGTERM at any point: on_exit, final attributes, stopped, exit 0.
"""

from __future__ import annotations

import importlib
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from lightning_ctl.agent.runner.cgroups import contain_this_work
from lightning_ctl.agent.runner.commands import CommandSequencer
from lightning_ctl.agent.runner.connection import RunnerConnection
from lightning_ctl.agent.runner.storage_link import (
    RunnerStorage,
    fetch_path_attributes,
    persist_artifacts,
    receive_arguments,
)
from lightning_ctl.agent.runner.tracker import VarsTracker
from lightning_ctl.protos.limits import MAX_STATUS_MESSAGE_CHARS
from lightning_ctl.sdk._agent_messages import RunnerInit
from lightning_ctl.sdk._app_server import install_netrc
from lightning_ctl.sdk._calls import executing
from lightning_ctl.sdk._events import ProcessStarted, RunCall, StatusChanged, UpdateVars, WorkCrashed
from lightning_ctl.sdk._hashing import START_CALL_HASH
from lightning_ctl.sdk._loader import load_app, user_traceback
from lightning_ctl.sdk._runtime import Runtime, set_runtime
from lightning_ctl.sdk._status import WorkFailureReasons, WorkStageStatus, WorkStopReasons, make_status
from lightning_ctl.sdk._storage import StorageBackend, set_storage
from lightning_ctl.sdk._work import LightningWork
from lightning_ctl.sdk.errors import InvalidReturnValueError, TransferError

_OUR_DIR = str(Path(__file__).resolve().parent.parent)  # agent/: frames of ours are cut from user tracebacks
WATCH_INTERVAL_S = 0.1
_IDLE_WAKE_S = 0.1
_SIGNAL_NUDGE_S = 0.05
_SIGNAL_NUDGES = 40
FLUSH_TIMEOUT_S = 5.0
_MAX_TRACEBACK_CHARS = MAX_STATUS_MESSAGE_CHARS // 4


class _WorkProcessRuntime(Runtime):
    """Routes assignments made by the work to the tracker (and ignores the copies of other components)."""

    def __init__(self) -> None:
        self.work: LightningWork | None = None
        self.tracker: VarsTracker | None = None

    def record_change(self, work: LightningWork, name: str, value: Any) -> None:
        if work is self.work and self.tracker is not None:
            self.tracker.note(name, value)


class WorkProcess:
    """Runs one work inside this process, driven by the agent over ``connection``."""

    def __init__(self, connection: RunnerConnection, work: LightningWork, tracker: VarsTracker,
                 storage: StorageBackend | None = None) -> None:
        self.connection = connection
        self.work = work
        self.tracker = tracker
        self.storage = storage or StorageBackend()
        self.calls: queue.SimpleQueue[RunCall] = queue.SimpleQueue()
        self.latest_hash = START_CALL_HASH
        self._commands = CommandSequencer()
        self._stopping = False

    def status(self, call_hash: str, stage: str, **fields: str) -> None:
        """Report a status of call ``call_hash``."""
        self.connection.emit(StatusChanged(call_hash, make_status(stage, **fields)))

    def on_message(self, message: RunCall | UpdateVars) -> None:
        """Handle a command from the control plane (receiver thread): each one once, in order."""
        for command in self._commands.accept(message):
            if isinstance(command, UpdateVars):
                self.tracker.absorb(command.vars, echo=True, command_seq=command.command_seq)
            else:
                self.calls.put(command)

    @property
    def stopping(self) -> bool:
        """Whether the SIGTERM handler has started."""
        return self._stopping

    def on_sigterm(self, signum: int, frame: Any) -> None:
        """Stop: run on_exit, send the final attributes and the stopped status, exit 0."""
        if self._stopping:
            return  # a second SIGTERM while stopping must not re-enter on_exit
        self._stopping = True
        try:
            self.work.on_exit()
        except Exception as exc:  # noqa: BLE001 - the user's hook failing must not lose the stopped status
            try:
                print(f"on_exit of {self.work.name} raised:\n{user_traceback(exc, (_OUR_DIR,))}", file=sys.stderr)
            except RuntimeError:
                pass  # stderr was being written when the signal came (a reentrant write is refused)
        persist_artifacts(self.work, self.storage)  # after on_exit: what it saved last is kept too
        self.tracker.sweep()
        self.status(self.latest_hash, WorkStageStatus.STOPPED, reason=WorkStopReasons.SIGTERM_SIGNAL_HANDLER.value)
        self.connection.flush(FLUSH_TIMEOUT_S)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (RuntimeError, OSError, ValueError):
                pass  # the signal came in the middle of a write on this stream ("reentrant call"): what it held is lost
        os._exit(0)

    def start(self, init: RunnerInit) -> None:
        """Apply the flow's view, run on_start, and report started when the flow asked for the start action."""
        self.tracker.absorb(init.vars)  # with the host, port and internal_ip its agent gave it
        self.work._public_ip = os.environ.get("LIGHTNING_NODE_IP", "")
        self.work.on_start()
        self.tracker.sweep()
        if init.start_action:
            self.status(START_CALL_HASH, WorkStageStatus.STARTED)

    def serve_calls(self) -> None:
        """Run calls in arrival order, forever."""
        while True:
            try:
                # A timeout, not a bare get(): a SIGTERM flagged while this thread was about to block would
                # otherwise wait for the next call before its handler runs.
                call = self.calls.get(timeout=_IDLE_WAKE_S)
            except queue.Empty:
                continue
            self.run_call(call.call_hash, call.args, call.kwargs, call.vars)

    def run_call(self, call_hash: str, args: list[Any], kwargs: dict[str, Any], flow_vars: dict[str, Any]) -> None:
        """Run one call and report its outcome."""
        self.tracker.absorb(flow_vars, echo=True)
        self.latest_hash = call_hash
        self.status(call_hash, WorkStageStatus.RUNNING)
        try:
            args, kwargs = receive_arguments(self.work, args, kwargs)
            fetch_path_attributes(self.work)
        except TransferError as exc:  # the files the call needs could not be had: the call fails saying why
            self.fail(call_hash, exc, ours=True)
            return
        try:
            with executing(self.work):
                result = self.work._user_run()(*args, **kwargs)
            if result is not None:
                raise InvalidReturnValueError(
                    f"{self.work.name}: run() returned a {type(result).__name__}; a work's run must return None "
                    "(results travel through the work's attributes)"
                )
            self.tracker.sweep(strict=True)  # an attribute grown past the limit in place fails the call
        except BaseException as exc:  # noqa: BLE001 - the user's failure becomes a status, whatever it is
            self.fail(call_hash, exc)
            return
        persist_artifacts(self.work, self.storage)
        self.status(call_hash, WorkStageStatus.SUCCEEDED)

    def fail(self, call_hash: str, exc: BaseException, ours: bool = False) -> None:
        """Report a failed call; exit the process when on_exception re-raises (the app then fails).

        ``ours``: raised by lightning-ctl around the user's code (not by it): only the message is shown.
        """
        self.tracker.sweep()
        # Our own check raised it: no frame of the user's to show, only what to fix.
        ours = ours or isinstance(exc, InvalidReturnValueError)
        text = _cut(str(exc) if ours else user_traceback(exc, (_OUR_DIR,)))
        reason = (
            WorkFailureReasons.INVALID_RETURN_VALUE
            if isinstance(exc, InvalidReturnValueError)
            else WorkFailureReasons.USER_EXCEPTION
        )
        self.status(call_hash, WorkStageStatus.FAILED, message=text, reason=reason.value)
        try:
            self.work.on_exception(exc)
        except BaseException:  # noqa: BLE001
            self.connection.emit(WorkCrashed(text))
            self.connection.flush(FLUSH_TIMEOUT_S)
            os._exit(1)
        print(f"{self.work.name} failed (raise_exception=False, the app goes on):\n{text}", file=sys.stderr, flush=True)


def _cut(text: str) -> str:
    """A traceback short enough to travel (its end, which names the error, is kept)."""
    if len(text) <= _MAX_TRACEBACK_CHARS:
        return text
    return f"[{len(text) - _MAX_TRACEBACK_CHARS} characters cut]\n" + text[-_MAX_TRACEBACK_CHARS:]


def find_work(app_module_name: str, app: Any, module: Any, name: str, init: RunnerInit) -> LightningWork:
    """The work called ``name`` in the freshly loaded app, rebuilt from its class when the flow made it in run()."""
    try:
        return app.get_component_by_name(name)
    except AttributeError:
        if not init.work_class:
            raise
    module_name, _, qualname = init.work_class.partition(":")
    owner: Any = module if module_name == app_module_name else importlib.import_module(module_name)
    for part in qualname.split("."):
        owner = getattr(owner, part)
    if init.init_args is None:
        raise RuntimeError(
            f"{name} was created inside a flow's run() with constructor arguments that are not JSON, so its process "
            "cannot rebuild it; create it in the flow's __init__ or pass JSON arguments"
        )
    work = owner(*init.init_args["args"], **init.init_args["kwargs"])
    work._set_name(name)
    return work


def deliver_sigterm_reliably(process: WorkProcess) -> None:
    """Make sure the SIGTERM handler runs even when the signal lands as the main thread enters a blocking call.

    Python runs signal handlers on the main thread between bytecodes; a signal that arrives just before the main
    thread blocks (``time.sleep(60)``, a lock) stays pending until that call returns. A watcher thread learns of
    the signal through the wakeup fd and, while the handler has not started, sends SIGTERM to the main thread
    again, which interrupts the blocked call.
    """
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)

    def watch() -> None:
        main = threading.main_thread().ident
        while True:
            signums = os.read(read_end, 64)
            if signal.SIGTERM not in signums:
                continue
            for _ in range(_SIGNAL_NUDGES):
                time.sleep(_SIGNAL_NUDGE_S)
                # Only while our handler is the one installed: a user's own handler is theirs to run once.
                if process.stopping or signal.getsignal(signal.SIGTERM) != process.on_sigterm or main is None:
                    break
                signal.pthread_kill(main, signal.SIGTERM)

    threading.Thread(target=watch, name="lightning-signals", daemon=True).start()


def watch_attributes(tracker: VarsTracker) -> None:
    """Catch in-place mutations (list.append, d[k] = v) within WATCH_INTERVAL_S."""
    while True:
        time.sleep(WATCH_INTERVAL_S)
        tracker.sweep()


def run(
    socket_path: str, work_name: str, attempt: int, app_path: str, preloaded: tuple[Any, Any] | None = None
) -> None:
    """The work process's main: never returns (exits when stopped, or when the work fails the app).

    ``preloaded`` is the (app, module) the fork server loaded before forking this process, if any.
    """
    contain_this_work()  # first: whatever the user's code starts stays the work's (its cgroup, or its subtree)
    connection = RunnerConnection(socket_path, work_name, attempt)
    try:
        init_message = connection.connect()
    except OSError as exc:
        init_message = None  # the agent stopped before this process got going: nothing to run
        print(f"{work_name}: could not reach its agent at {socket_path}: {exc}", file=sys.stderr)
    if init_message is None:
        raise SystemExit(f"{work_name}: the agent closed the connection before sending the work's init")
    init = init_message
    connection.start()
    connection.emit(ProcessStarted(os.getpid()))
    runtime = _WorkProcessRuntime()
    set_runtime(runtime)
    install_netrc()  # the app's own credential, for HTTP clients calling the app's API (requests, curl --netrc)
    try:
        app, module = preloaded or load_app(app_path)
        work = find_work("__main__", app, module, work_name, init)
    except BaseException as exc:  # noqa: BLE001 - reported to the flow as this work's crash
        connection.emit(WorkCrashed(f"{work_name}: the work process could not load it:\n{exc}"))
        connection.flush(FLUSH_TIMEOUT_S)
        os._exit(1)
    tracker = VarsTracker(work, connection.emit_values, connection.max_attribute_bytes)
    runtime.work, runtime.tracker = work, tracker
    storage = RunnerStorage(connection, work_name)
    set_storage(storage)
    process = WorkProcess(connection, work, tracker, storage)
    signal.signal(signal.SIGTERM, process.on_sigterm)
    deliver_sigterm_reliably(process)
    connection.set_handler(process.on_message)
    threading.Thread(target=watch_attributes, args=(tracker,), name="lightning-watch", daemon=True).start()
    try:
        process.start(init)
    except BaseException as exc:  # noqa: BLE001 - on_start failing is the work failing
        process.fail(START_CALL_HASH, exc)
    process.serve_calls()
