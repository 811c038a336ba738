"""LightningWork: a long-running job that runs in its own OS process, called by flows."""

from __future__ import annotations

import functools
import json
import socket
import time
import warnings
from typing import Any, Callable

from lightning_ctl.sdk._build_config import BuildConfig
from lightning_ctl.sdk._calls import (
    apply_to_latest,
    clean_ledger,
    count_successes,
    dispatch_call,
    is_executing,
    is_stopped_for_good,
    latest_stage,
    latest_statuses,
    new_ledger,
    record_start,
    run_inline,
)
from lightning_ctl.sdk._cloud_compute import CloudCompute
from lightning_ctl.sdk._component import (
    StateAttributes,
    check_json_value,
    is_in_method,
    is_state_name,
    to_json,
)
from lightning_ctl.sdk._gang import node_run
from lightning_ctl.sdk._payload import _BasePayload
from lightning_ctl.sdk._restart import RestartPolicy
from lightning_ctl.sdk._runtime import get_runtime
from lightning_ctl.sdk._status import WorkStageStatus, WorkStatus, WorkStopReasons, make_status
from lightning_ctl.sdk._storage_values import assigned_value, decode_value, track_paths
from lightning_ctl.sdk.errors import LightningWorkException

_INTERNAL_STATE_NAMES = frozenset(
    {
        "_paths",
        "_host",
        "_port",
        "_url",
        "_future_url",
        "_internal_ip",
        "_public_ip",
        "_restarting",
        "_display_name",
        "_cloud_compute",
    }
)


def _dispatching_run(user_run: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a subclass's ``run`` so that calling it does what the hosting process needs (see sdk._runtime)."""

    @functools.wraps(user_run)
    def run(self: LightningWork, *args: Any, **kwargs: Any) -> Any:
        if is_executing(self):
            return user_run(self, *args, **kwargs)
        runtime = get_runtime()
        if runtime is None:
            return run_inline(self, user_run, args, kwargs)
        return dispatch_call(self, runtime, args, kwargs)

    run.__lightning_user_run__ = user_run  # type: ignore[attr-defined]
    return run


class LightningWork(StateAttributes):
    """A job that runs in its own process, possibly on another machine, and reports its state as it changes.

    Subclasses override ``run``; flows call it. Public attributes must be declared in ``__init__`` and hold JSON
    values; every assignment made while the work runs reaches the flow.

    Args:
        parallel: when False, a call interrupts the calling flow body until the call has finished.
        cache_calls: when True, a call whose arguments already ran successfully returns at once.
        raise_exception: when True, an exception in ``run`` fails the whole app.
        host: the host the work's server should bind, exposed as ``host`` (on an agent advertising another address
            than loopback, loopback becomes that address, so that ``url`` reaches it from other machines).
        port: the port the work's server should listen on; None: its agent gives it one (see ``port``).
        local_build_config: kept for compatibility; unused locally.
        cloud_build_config: kept for compatibility; unused locally.
        cloud_compute: the resources the work needs (placement).
        run_once: deprecated alias of ``cache_calls``.
        start_with_flow: start the process (and run ``on_start``) when the app starts rather than on first call.
        restart_policy: what happens when the work's process is lost (it died, or its agent was lost); by default
            the work fails with the reason.
    """

    _INTERNAL_STATE_NAMES = _INTERNAL_STATE_NAMES

    # Set through __dict__ in __init__ (past __setattr__'s state rules); declared here for type checkers only.
    _state: set[str]
    _parallel: bool
    _cache_calls: bool
    _raise_exception: bool
    _start_with_flow: bool
    _restart_policy: RestartPolicy
    _local_build_config: BuildConfig
    _cloud_build_config: BuildConfig
    _calls: dict[str, Any]
    _host: str
    _port: int | None
    _url: str
    _future_url: str
    _internal_ip: str
    _public_ip: str
    _restarting: bool
    _display_name: str
    _paths: dict[str, Any]
    _cloud_compute: CloudCompute
    _lightningignore: tuple[str, ...]

    readiness_path: str | None = None
    """An HTTP path (e.g. ``"/health"``) that must answer 2xx before the work counts as serving: its ``url`` is set
    then, and until then its status message says why it is not ready. None: the work's port accepting a connection
    is enough (and no message is shown, as a work need not serve at all)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> LightningWork:
        work = super().__new__(cls)
        # Kept so that a work built inside a flow's run() can be rebuilt in its own process.
        work.__dict__["_init_args"] = (args, kwargs)
        return work

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "run" in cls.__dict__:
            cls.run = _dispatching_run(cls.__dict__["run"])  # type: ignore[method-assign]

    def __init__(
        self,
        parallel: bool = False,
        cache_calls: bool = True,
        raise_exception: bool = True,
        host: str = "127.0.0.1",
        port: int | None = None,
        local_build_config: BuildConfig | None = None,
        cloud_build_config: BuildConfig | None = None,
        cloud_compute: CloudCompute | None = None,
        run_once: bool | None = None,
        start_with_flow: bool = True,
        restart_policy: RestartPolicy | None = None,
    ) -> None:
        if type(self).run is LightningWork.run:
            raise TypeError(f"{type(self).__name__} must override LightningWork.run")
        if run_once is not None:
            warnings.warn("run_once is deprecated; use cache_calls", DeprecationWarning, stacklevel=2)
            cache_calls = run_once
        d = self.__dict__
        d["_state"] = set(_INTERNAL_STATE_NAMES)
        d["_name"] = ""
        d["_parallel"] = parallel
        d["_cache_calls"] = cache_calls
        d["_raise_exception"] = raise_exception
        d["_start_with_flow"] = start_with_flow
        d["_restart_policy"] = restart_policy or RestartPolicy()
        d["_local_build_config"] = local_build_config or BuildConfig()
        d["_cloud_build_config"] = cloud_build_config or BuildConfig()
        d["_calls"] = new_ledger()
        d["_host"] = host
        d["_port"] = port
        d["_asked_port"] = port  # not state: what the launch asks of the agent (``_port`` becomes what it gave)
        d["_url"] = ""
        d["_future_url"] = ""
        d["_internal_ip"] = ""
        d["_public_ip"] = ""
        d["_restarting"] = False
        d["_display_name"] = ""
        d["_paths"] = {}
        d["_cloud_compute"] = cloud_compute or CloudCompute()
        d["_lightningignore"] = ()

    # -- assignment -----------------------------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        prop = getattr(type(self), name, None)
        if isinstance(prop, property):
            if prop.fset is None:
                raise AttributeError(f"{type(self).__name__}.{name} is read-only")
            prop.fset(self, value)
            return
        if name == "run" or not is_state_name(name, _INTERNAL_STATE_NAMES):
            object.__setattr__(self, name, value)
            return
        if isinstance(value, StateAttributes):
            raise LightningWorkException(
                f"A LightningWork isn't allowed to take any children: {self.name or type(self).__name__}.{name}"
            )
        state = self._state_names()
        if name not in state:
            self._check_declared(name)
        in_init = isinstance(value, _BasePayload) and is_in_method(self, ("__init__",))
        value = assigned_value(self, name, value, in_init, is_work=True)
        if name != "_cloud_compute":
            check_json_value(self, name, value)
        self.__dict__[name] = value
        state.add(name)
        paths_changed = track_paths(self, name, value)
        runtime = get_runtime()
        if runtime is not None:
            runtime.record_change(self, name, value)
            if paths_changed:
                runtime.record_change(self, "_paths", self._paths)

    # -- identity and configuration -------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The work's full dotted name (``root.flow.work``), or "" until attached to an app."""
        return self._name

    @property
    def display_name(self) -> str:
        """A human-friendly name; settable only before the work has started."""
        return self._display_name

    @display_name.setter
    def display_name(self, value: str) -> None:
        if self.has_started:
            raise RuntimeError(f"{self.name}: display_name can only be set before the work starts")
        self.__dict__["_display_name"] = value

    @property
    def parallel(self) -> bool:
        """Whether a call returns at once instead of interrupting the flow until it finishes."""
        return self._parallel

    @property
    def cache_calls(self) -> bool:
        """Whether a call whose arguments already ran successfully is skipped."""
        return self._cache_calls

    @property
    def raise_exception(self) -> bool:
        """Whether an exception in ``run`` fails the app."""
        return self._raise_exception

    @property
    def start_with_flow(self) -> bool:
        """Whether the process starts with the app rather than on first call."""
        return self._start_with_flow

    @property
    def restart_policy(self) -> RestartPolicy:
        """What happens when the work's process is lost."""
        return self._restart_policy

    @property
    def local_build_config(self) -> BuildConfig:
        """Kept for compatibility; unused by lightning-ctl."""
        return self._local_build_config

    @local_build_config.setter
    def local_build_config(self, value: BuildConfig) -> None:
        self.__dict__["_local_build_config"] = value

    @property
    def cloud_build_config(self) -> BuildConfig:
        """Its ``image`` is the container image the Kubernetes provider starts this work's agent in."""
        return self._cloud_build_config

    @cloud_build_config.setter
    def cloud_build_config(self, value: BuildConfig) -> None:
        self.__dict__["_cloud_build_config"] = value

    @property
    def cloud_compute(self) -> CloudCompute:
        """The resources this work asks for."""
        return self._cloud_compute

    @cloud_compute.setter
    def cloud_compute(self, value: CloudCompute) -> None:
        self.__dict__["_cloud_compute"] = value

    @property
    def lightningignore(self) -> tuple[str, ...]:
        """Ignore patterns for the code shipped to remote agents."""
        return self._lightningignore

    @lightningignore.setter
    def lightningignore(self, value: tuple[str, ...]) -> None:
        self.__dict__["_lightningignore"] = tuple(value)

    @property
    def host(self) -> str:
        """The host the work's server should bind."""
        return self._host

    @property
    def port(self) -> int | None:
        """The port the work's server should listen on.

        The agent that runs the work gives it, on its own host (from its ``--ports`` range, or any free port), before
        the work's process starts: the flow and the work read the same number, kept across restarts of the control
        plane and of the agent. A work built with ``port=N`` gets N (or fails saying the port is in use). In a
        flow it is None until the work's launch reached its agent; without lightning-ctl (``python app.py``) a free
        port of this machine is picked on first access.
        """
        if self._port is None and get_runtime() is None:
            with socket.socket() as sock:
                sock.bind((self._host if self._host != "0.0.0.0" else "", 0))
                self._port = sock.getsockname()[1]
        return self._port

    @property
    def url(self) -> str:
        """``http://<internal_ip>:<port>`` once the work's port accepts connections, "" until then.

        Or once its ``readiness_path`` answers 2xx; "" again while a new process of the work starts. The control plane serves the same server at ``/works/<name>/``.
        """
        return self._url

    @url.setter
    def url(self, value: str) -> None:
        self._url = value

    @property
    def internal_ip(self) -> str:
        """The address other machines reach the work at (its agent's ``--advertise-address``).

        "" until its launch reached its agent.
        """
        return self._internal_ip

    @property
    def public_ip(self) -> str:
        """The public address of the machine running the work, "" locally."""
        return self._public_ip

    # -- status ---------------------------------------------------------------------------------------------------

    @property
    def status(self) -> WorkStatus:
        """The latest status of the call that most recently began."""
        statuses = latest_statuses(self)
        if not statuses:
            return WorkStatus(stage=WorkStageStatus.NOT_STARTED.value, timestamp=time.time())
        return WorkStatus.from_dict(statuses[-1])

    @property
    def statuses(self) -> list[WorkStatus]:
        """Every status of the call that most recently began, oldest first."""
        return [WorkStatus.from_dict(s) for s in latest_statuses(self)]

    def _stage(self) -> str:
        return latest_stage(self)

    @property
    def has_started(self) -> bool:
        """Whether the work has left not_started."""
        return self._stage() != WorkStageStatus.NOT_STARTED

    @property
    def is_pending(self) -> bool:
        """Whether the latest call is waiting to run."""
        return self._stage() == WorkStageStatus.PENDING

    @property
    def is_running(self) -> bool:
        """Whether the latest call is running."""
        return self._stage() == WorkStageStatus.RUNNING

    @property
    def has_succeeded(self) -> bool:
        """Whether the latest call succeeded."""
        return self._stage() == WorkStageStatus.SUCCEEDED

    @property
    def has_failed(self) -> bool:
        """Whether the latest call failed."""
        return self._stage() == WorkStageStatus.FAILED

    @property
    def has_stopped(self) -> bool:
        """Whether the work was stopped."""
        return self._stage() == WorkStageStatus.STOPPED

    @property
    def has_timeout(self) -> bool:
        """Whether the latest call failed with a timeout."""
        return self.has_failed and self.status.reason == "timeout"

    @property
    def num_timeouts(self) -> int:
        """How many times the latest call timed out."""
        status = self.status
        return status.count if status.reason == "timeout" else 0

    @property
    def num_successes(self) -> int:
        """How many runs of this work succeeded, over all calls (re-runs of the same arguments included)."""
        return count_successes(self)

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def run(self, *args: Any, **kwargs: Any) -> None:
        """The work's job; override it. It must return None: results travel through attributes."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the work's process now and run its ``on_start``, without a call."""
        if is_stopped_for_good(self):
            raise Exception("A work can be started only once for now.")
        runtime = get_runtime()
        if runtime is None:
            raise RuntimeError(f"{self.name or type(self).__name__}.start() needs a running app")
        if record_start(self):
            runtime.start_work(self)

    def stop(self) -> None:
        """Stop the work: SIGTERM to its process group, ``on_exit`` in the work, then the stopped status."""
        runtime = get_runtime()
        if runtime is None:
            raise RuntimeError(f"{self.name or type(self).__name__}.stop() can only be called from a running app")
        if is_stopped_for_good(self):
            return
        runtime.stop_work(self)
        apply_to_latest(self, make_status(WorkStageStatus.STOPPED, reason=WorkStopReasons.PENDING.value))

    def delete(self) -> None:
        """Same as ``stop`` when running locally."""
        self.stop()

    def on_start(self) -> None:
        """Runs once in the work's process when it starts, before any call."""

    def on_exit(self) -> None:
        """Runs in the work's process when it is stopped."""

    def on_exception(self, exception: BaseException) -> None:
        """Runs in the work's process when ``run`` raised; re-raises when ``raise_exception`` is True."""
        if self.raise_exception:
            raise exception

    def configure_layout(self) -> object:
        """The work's UI (a URL or a frontend); None by default."""
        return None

    # -- state ----------------------------------------------------------------------------------------------------

    def _vars_state(self) -> dict[str, Any]:
        out = {}
        for name in self._state_names():
            value = self.__dict__[name]
            if isinstance(value, CloudCompute):
                value = value.to_dict()
            out[name] = value
        return json.loads(to_json(out))

    @property
    def state(self) -> dict[str, Any]:
        """The work's state: ``{"vars", "calls", "changes"}``."""
        return {"vars": self._vars_state(), "calls": json.loads(json.dumps(self._calls)), "changes": {}}

    @property
    def state_vars(self) -> dict[str, Any]:
        """The work's state without calls and changes."""
        return {"vars": self._vars_state()}

    @property
    def state_with_changes(self) -> dict[str, Any]:
        """The same as ``state`` (changes are always empty)."""
        return self.state

    def set_state(self, state: dict[str, Any]) -> None:
        """Assign ``state["vars"]`` and replace the calls bookkeeping with ``state["calls"]``."""
        for name, value in state.get("vars", {}).items():
            if isinstance(value, dict) and value.get("type") == "__cloud_compute__":
                value = CloudCompute.from_dict(value)
            setattr(self, name, decode_value(value))
        if "calls" in state:
            self.__dict__["_calls"] = clean_ledger(state["calls"])

    def _user_run(self) -> Callable[..., Any]:
        """The user's ``run`` (bound), bypassing dispatch: what the work's own process executes.

        A node of a MultiNode runs it through its gang's executor.
        """
        user_run = type(self).run.__lightning_user_run__  # type: ignore[attr-defined]
        return node_run(self, functools.partial(user_run, self))

