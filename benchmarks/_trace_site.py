"""Hop tracing for ``bench_core.py --breakdown``: installed as ``sitecustomize`` in the processes of one app run.

``bench_core.py`` copies this file as ``sitecustomize.py`` into a temporary folder that it puts first on
PYTHONPATH of the ``lightning-ctl run`` it traces (the environment reaches the agent and the work processes). In
each process it wraps a few functions of lightning-ctl as their modules are imported (no product file is edited)
and records ``(time.monotonic_ns(), thread, tag, extra)``; CLOCK_MONOTONIC is one clock for every process of the
machine, so the records of all processes can be merged. Each process writes its records to
``$LCTL_BENCH_TRACE/trace-<pid>.txt`` when it exits (``os._exit`` included). Every wrap is optional: a function
that is not there (the code moved) is skipped and noted as ``patch_missing``.
"""

from __future__ import annotations

import atexit
import functools
import importlib.abc
import inspect
import os
import sys
import threading
import time

_OUT = os.environ.get("LCTL_BENCH_TRACE", "")
_now = time.monotonic_ns
_cpu = time.process_time
_records: list[tuple[int, str, str, str]] = []
_state = {"forked": False, "dumped": False}


def rec(tag: str, extra: str = "") -> None:
    """Record one point."""
    _records.append((_now(), threading.current_thread().name, tag, extra))


def _role() -> str:
    mods = sys.modules
    if "lightning_ctl.controlplane.app_host" in mods:
        return "cp"
    if "lightning_ctl.agent.daemon" in mods:
        return "agent"
    if _state["forked"]:
        return "work"  # forked by the fork server
    if "zygote" in (sys.argv[0] if sys.argv else "") or "lightning_ctl.agent.runner.zygote" in mods:
        return "zygote"
    if "lightning_ctl.agent.runner.work_process" in mods:
        return "work"
    return "other"


def _dump() -> None:
    if _state["dumped"] or not _OUT:
        return
    _state["dumped"] = True
    try:
        lines = [f"# pid={os.getpid()} role={_role()} cpu={_cpu():.6f} argv={' '.join(sys.argv)}"]
        lines += [f"{t}\t{th}\t{tag}\t{extra}" for t, th, tag, extra in _records]
        with open(os.path.join(_OUT, f"trace-{os.getpid()}.txt"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
    except Exception:  # noqa: BLE001 - tracing must never break the traced process
        pass


_real_exit = os._exit


def _exit(code: int) -> None:
    _dump()
    _real_exit(code)


_real_fork = os.fork


def _fork() -> int:
    rec("fork:in")
    pid = _real_fork()
    if pid:
        rec("fork:out", str(pid))
    return pid


def _after_fork_in_child() -> None:
    _records.clear()
    _state["forked"] = True
    _state["dumped"] = False
    rec("forked", f"cpu={_cpu():.6f}")


# -- wrapping -------------------------------------------------------------------------------------------------------

def _describe_event(event: object) -> str:
    if isinstance(event, list):  # the events of one agent message, delivered together
        return " ".join(_describe_event(e) for e in event)
    body = getattr(event, "body", None)
    if body is None:
        return type(event).__name__
    name = getattr(event, "work_name", "")
    stage = ""
    status = getattr(body, "status", None)
    if isinstance(status, dict):
        stage = str(status.get("stage", ""))
    return f"{name}:{type(body).__name__}:{stage}"


def _describe_command(command: object) -> str:
    return f"{type(command).__name__}:{getattr(command, 'work_name', '')}"


def _wrap(owner: object, attr: str, tag: str, when: str = "in", extra=None, keep=None) -> None:  # noqa: ANN001
    """Record ``tag`` when ``owner.attr`` is entered ("in"), left ("out"), or both ("inout")."""
    raw = inspect.getattr_static(owner, attr, None)
    if raw is None:
        rec("patch_missing", f"{getattr(owner, '__name__', owner)}.{attr}")
        return
    is_cm = isinstance(raw, classmethod)
    is_sm = isinstance(raw, staticmethod)
    func = raw.__func__ if (is_cm or is_sm) else raw

    def describe(args: tuple, kwargs: dict, result: object = None) -> str:
        if extra is None:
            return ""
        try:
            return extra(args, kwargs, result)
        except Exception as exc:  # noqa: BLE001
            return f"?{exc!r}"

    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if when in ("in", "inout"):
                rec(tag + (":in" if when == "inout" else ""), describe(args, kwargs))
            result = await func(*args, **kwargs)
            if when in ("out", "inout") and (keep is None or keep(result)):
                rec(tag + (":out" if when == "inout" else ""), describe(args, kwargs, result))
            return result
    else:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            if when in ("in", "inout"):
                rec(tag + (":in" if when == "inout" else ""), describe(args, kwargs))
            result = func(*args, **kwargs)
            if when in ("out", "inout") and (keep is None or keep(result)):
                rec(tag + (":out" if when == "inout" else ""), describe(args, kwargs, result))
            return result

    if is_cm:
        wrapper = classmethod(wrapper)
    elif is_sm:
        wrapper = staticmethod(wrapper)
    setattr(owner, attr, wrapper)


def _get(module: object, path: str):  # noqa: ANN202
    owner = module
    for part in path.split(".")[:-1]:
        owner = getattr(owner, part, None)
        if owner is None:
            return None, path.split(".")[-1]
    return owner, path.split(".")[-1]


def _patch_all(module: object, table: list) -> None:
    for path, tag, when, extra, *rest in table:
        owner, attr = _get(module, path)
        if owner is None:
            rec("patch_missing", f"{module.__name__}.{path}")
            continue
        _wrap(owner, attr, tag, when, extra, rest[0] if rest else None)


def _cpu_extra(_a, _k, _r=None) -> str:  # noqa: ANN001
    return f"cpu={_cpu():.6f}"


def _p_loader(m):  # noqa: ANN001, ANN202
    _patch_all(m, [("load_app", "load_app", "inout", None)])


def _p_framing(m):  # noqa: ANN001, ANN202
    _patch_all(m, [
        ("encode_frame", "frame_out", "in", lambda a, k, r=None: str(len(a[0]))),
        ("read_frame", "frame_in", "out", lambda a, k, r=None: str(len(r or b"")), lambda r: r is not None),
        ("read_frame_blocking", "frame_in", "out", lambda a, k, r=None: str(len(r or b"")), lambda r: r is not None),
    ])


def _p_loop(m):  # noqa: ANN001, ANN202
    _patch_all(m, [
        ("FlowLoop._tick", "tick", "inout", None),
        ("FlowLoop._drain", "drain", "out", lambda a, k, r=None: str(len(r or ())), lambda r: bool(r)),
        ("FlowLoop._apply", "apply", "in", lambda a, k, r=None: _describe_event(a[1])),
    ])


def _p_runtime(m):  # noqa: ANN001, ANN202
    _patch_all(m, [
        ("FlowActions.dispatch_call", "dispatch", "in", lambda a, k, r=None: f"{a[1].name} cpu={_cpu():.6f}"),
        ("FlowRuntime.apply", "take_commands", "out",
         lambda a, k, r=None: ",".join(_describe_command(c) for c in r[:3]) + f" n={len(r)}", lambda r: bool(r)),
    ])


def _p_registry(m):  # noqa: ANN001, ANN202
    _patch_all(m, [
        ("AgentRegistry.route", "route", "in", lambda a, k, r=None: f"n={len(a[1])}"),
        ("AgentRegistry.add", "agent_registered", "in", None),
    ])


def _p_agent_service(m):  # noqa: ANN001, ANN202
    _patch_all(m, [
        ("AgentServicer._on_events", "cp_events_in", "in",
         lambda a, k, r=None: f"n={len(a[1].events)} " + ",".join(e.WhichOneof("kind") or "" for e in a[1].events[:4])),
    ])


def _p_codec_agent(m):  # noqa: ANN001, ANN202
    """The messages of the agent's stream are built here (by the servicer and by the agent's session)."""
    _patch_all(m, [
        ("control_message_to_pb", "cp_write", "in", lambda a, k, r=None: _control_kind(a[0])),
        ("agent_events_message", "agent_write", "in", lambda a, k, r=None: f"events:{len(a[0])}"),
        ("heartbeat_message", "agent_write", "in", lambda a, k, r=None: "heartbeat:"),
        ("register_message", "agent_write", "in", lambda a, k, r=None: "register:"),
    ])


def _control_kind(item: object) -> str:
    if isinstance(item, list):
        return f"commands:{len(item)}"
    return {"Welcome": "welcome", "EventsApplied": "ack", "OutputShown": "output_ack",
            "EventRejected": "rejected"}.get(type(item).__name__, "") + ":"


def _p_app_host(m):  # noqa: ANN001, ANN202
    _patch_all(m, [
        ("AppHost.run", "cp_run", "in", None),
        ("AppHost._deliver", "deliver", "in", lambda a, k, r=None: _describe_event(a[1]) + f" cpu={_cpu():.6f}"),
        ("AppHost._run_app", "run_app", "in", None),
    ])


def _p_console(m):  # noqa: ANN001, ANN202
    _patch_all(m, [
        ("Console.print_lines", "print_lines", "in", lambda a, k, r=None: f"{a[1]}|{a[2].lines[0][:40]}"),
    ])


def _p_local_agent(m):  # noqa: ANN001, ANN202
    _patch_all(m, [
        ("LocalAgent.__init__", "start_agent", "inout", None),
        ("LocalAgent.send_address", "send_address", "in", None),
    ])


def _p_server(m):  # noqa: ANN001, ANN202
    _patch_all(m, [("build_server", "build_server", "inout", None)])


def _p_agent_cli(m):  # noqa: ANN001, ANN202
    _patch_all(m, [("_serve", "agent_serve", "in", None)])


def _p_session(m):  # noqa: ANN001, ANN202
    _patch_all(m, [("AgentSession._run_stream", "agent_stream", "in", None)])


def _outbox_extra(a, k, r=None) -> str:  # noqa: ANN001
    from lightning_ctl.protos.lightning.v1 import events_pb2

    event = events_pb2.WorkEvent.FromString(a[1])  # the agent relays serialized events
    kind = event.WhichOneof("kind") or ""
    if kind == "status":
        kind += ":" + event.status.stage
    return f"{event.work_name}:{kind}"


def _p_daemon(m):  # noqa: ANN001, ANN202
    _patch_all(m, [
        ("AgentDaemon.handle", "agent_handle", "in", lambda a, k, r=None: _describe_command(a[1]) + f" cpu={_cpu():.6f}"),
        ("AgentDaemon._accept", "agent_accept", "in", None),
        ("Outbox.put", "outbox_put", "in", _outbox_extra),
    ])


def _p_supervisor(m):  # noqa: ANN001, ANN202
    _patch_all(m, [
        ("WorkSupervisor.start", "spawn", "inout", lambda a, k, r=None: a[0].launch.work_name),
        ("WorkSupervisor.attach", "attach", "in", lambda a, k, r=None: a[0].launch.work_name),
        ("WorkSupervisor.send_call", "agent_send_call", "in", lambda a, k, r=None: a[0].launch.work_name),
    ])


def _p_launcher(m):  # noqa: ANN001, ANN202
    _patch_all(m, [
        ("exec_work", "exec_work", "inout", lambda a, k, r=None: a[0].work_name),
        ("_Zygote.fork", "zygote_fork", "inout", lambda a, k, r=None: a[1].work_name),
        ("_Zygote.__init__", "zygote_start", "inout", None),
    ])


def _p_zygote(m):  # noqa: ANN001, ANN202
    _patch_all(m, [
        ("Zygote._preload", "zygote_preload", "inout", None),
        ("Zygote._fork", "zygote_do_fork", "inout", lambda a, k, r=None: a[1].get("work_name", "")),
    ])


def _p_work_process(m):  # noqa: ANN001, ANN202
    _patch_all(m, [
        ("run", "work_main", "in", lambda a, k, r=None: f"{a[1]} cpu={_cpu():.6f}"),
        ("WorkProcess.on_message", "work_msg_in", "in", lambda a, k, r=None: type(a[1]).__name__.lower()),
        ("WorkProcess.run_call", "work_run", "inout", None),
        ("WorkProcess.status", "work_status", "in", lambda a, k, r=None: f"{str(a[2])} cpu={_cpu():.6f}"),
        ("WorkProcess.start", "work_start", "inout", None),
    ])


def _p_connection(m):  # noqa: ANN001, ANN202
    _patch_all(m, [
        ("RunnerConnection.connect", "work_connect", "inout", None),
        ("RunnerConnection.receive_one", "work_init_in", "out", None),
    ])


_PATCHES = {
    "lightning_ctl.sdk._loader": _p_loader,
    "lightning_ctl.agent.framing": _p_framing,
    "lightning_ctl.controlplane.flows.loop": _p_loop,
    "lightning_ctl.controlplane.flows.flow_runtime": _p_runtime,
    "lightning_ctl.controlplane.agents.registry": _p_registry,
    "lightning_ctl.controlplane.api.agent_service": _p_agent_service,
    "lightning_ctl.protos.codec._agent": _p_codec_agent,
    "lightning_ctl.controlplane.app_host": _p_app_host,
    "lightning_ctl.controlplane.output.console": _p_console,
    "lightning_ctl.controlplane.api.server": _p_server,
    "lightning_ctl.controlplane.agents.local_agent": _p_local_agent,
    "lightning_ctl.controlplane.cli": None,
    "lightning_ctl.agent.cli": _p_agent_cli,
    "lightning_ctl.agent.session": _p_session,
    "lightning_ctl.agent.daemon": _p_daemon,
    "lightning_ctl.agent.supervisor": _p_supervisor,
    "lightning_ctl.agent.launcher": _p_launcher,
    "lightning_ctl.agent.runner.zygote": _p_zygote,
    "lightning_ctl.agent.runner.work_process": _p_work_process,
    "lightning_ctl.agent.runner.connection": _p_connection,
}


class _PostImportHook(importlib.abc.MetaPathFinder):
    """Patches the modules of ``_PATCHES`` right after they execute, before anyone binds their names."""

    def find_spec(self, name, path, target=None):  # noqa: ANN001, ANN201
        if name not in _PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        real_exec = loader.exec_module
        patch = _PATCHES[name]

        def exec_module(module):  # noqa: ANN001, ANN202
            real_exec(module)
            rec("imported", f"{name} cpu={_cpu():.6f}")
            if patch is not None:
                try:
                    patch(module)
                except Exception as exc:  # noqa: BLE001
                    rec("patch_failed", f"{name}: {exc!r}")

        loader.exec_module = exec_module
        return spec


if _OUT:
    rec("interp", f"cpu={_cpu():.6f}")
    os._exit = _exit
    os.fork = _fork
    atexit.register(_dump)
    os.register_at_fork(after_in_child=_after_fork_in_child)
    sys.meta_path.insert(0, _PostImportHook())
