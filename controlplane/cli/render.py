"""Rendering for the CLI: aligned tables, human units and times, JSON documents, and safe display of work output.

Pure functions of plain values (``controlplane.app_view``), so they are tested without a control plane.
"""

from __future__ import annotations

import datetime
import json
import re
import time
import unicodedata
from typing import Any, Iterable, Sequence

from lightning_ctl.controlplane.api.app_view import AgentView, AppView, LogLine, RequestView, WorkView

NONE = "-"
MESSAGE_CHARS = 60
"""A status message (a pending reason, a traceback) shows its first line, cut to this many characters."""
VALUE_CHARS = 200
"""A value in a state change shows cut to this many characters."""

_UNSAFE = re.compile(r"\x1b\[[0-9;]*m|[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
"""Control characters (C0 but tab, DEL, C1, line separators) and colour sequences (kept)."""


# -- text -----------------------------------------------------------------------------------------------------------


def _escape(match: re.Match[str]) -> str:
    text = match.group()
    if len(text) > 1:  # an SGR colour sequence: harmless, and what the work meant
        return text
    code = ord(text)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    r"""``text`` safe for a terminal.

    Control characters (escape sequences that move the cursor, set titles, ring bells...) shown as ``\xNN``;
    colours and tabs kept.
    """
    return _UNSAFE.sub(_escape, text)


def display_width(text: str) -> int:
    """Columns ``text`` takes in a terminal (wide East Asian characters take 2, combining marks 0)."""
    if text.isascii():
        return len(text)
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def first_line(text: str, limit: int = MESSAGE_CHARS) -> str:
    """The first non-empty line of ``text``, cut to ``limit`` characters with "…"."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = safe_text(line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def is_cut(text: str, limit: int = MESSAGE_CHARS) -> bool:
    """Whether :func:`first_line` of ``text`` leaves something out (more lines, or a longer first line)."""
    lines = [part.strip() for part in text.splitlines() if part.strip()]
    return len(lines) > 1 or bool(lines) and len(safe_text(lines[0])) > limit


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], right: Iterable[int] = ()) -> str:
    """An aligned table: a header row then one row per item, columns two spaces apart, no trailing spaces.

    Args:
        headers: Column titles.
        rows: Cells (anything; None and "" show as "-").
        right: Indices of columns aligned to the right (numbers).
    """
    text_rows = [
        [NONE if cell is None or cell == "" else safe_text(str(cell)) for cell in row] for row in rows
    ]
    all_rows = [list(headers), *text_rows]
    widths = [max(display_width(row[i]) for row in all_rows) for i in range(len(headers))]
    right = set(right)
    lines = []
    for row in all_rows:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - display_width(cell))
            cells.append(pad + cell if i in right else cell + pad)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


# -- units ----------------------------------------------------------------------------------------------------------


def format_bytes(count: int) -> str:
    """``count`` bytes in binary units: "0 B", "512 B", "1.5 KiB", "7.8 GiB"."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def format_number(value: float) -> str:
    """A count that may be fractional: "2", "1.5"."""
    return f"{value:g}" if value != int(value) else str(int(value))


def format_duration(seconds: float) -> str:
    """A duration, short: "0.4s", "12s", "3m12s", "2h05m", "3d04h"."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def format_time(epoch_s: float, now_s: float | None = None) -> str:
    """A local time: "14:03:12" today, "2025-01-31 14:03" otherwise; "-" for 0 (unknown)."""
    if not epoch_s:
        return NONE
    moment = datetime.datetime.fromtimestamp(epoch_s)
    today = datetime.datetime.fromtimestamp(time.time() if now_s is None else now_s).date()
    return moment.strftime("%H:%M:%S") if moment.date() == today else moment.strftime("%Y-%m-%d %H:%M")


def iso_time(epoch_s: float) -> str | None:
    """An ISO 8601 UTC time with milliseconds ("2025-01-31T14:03:12.345Z"), or None for 0."""
    if not epoch_s:
        return None
    moment = datetime.datetime.fromtimestamp(epoch_s, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _indices(indices: Sequence[int]) -> str:
    return ",".join(str(i) for i in indices) if indices else NONE


# -- status and agents ----------------------------------------------------------------------------------------------

WORK_HEADERS = ("WORK", "STATUS", "REASON", "AGENT", "PID", "STARTED", "RESTARTS", "GPUS", "MESSAGE")
AGENT_HEADERS = ("AGENT", "HOST", "STATE", "CPUS", "MEMORY", "GPUS", "WORKS", "HEARTBEAT", "LABELS")
REQUEST_HEADER = "REQUEST"


def works_table(works: Iterable[WorkView], now_s: float | None = None, wide: bool = False) -> str:
    """One row per work: status, reason, agent, pid, start time, restarts, GPUs and the message's first line.

    With ``wide``: no message column; :func:`messages_text` shows them whole.
    """
    rows = [
        (
            w.work_name,
            w.stage,
            w.reason,
            w.agent_name,
            w.pid if w.pid and not w.process_exited else None,
            format_time(w.started_at, now_s),
            w.restarts,
            _indices(w.gpu_indices),
            *(() if wide else (first_line(w.message),)),
        )
        for w in works
    ]
    return table(WORK_HEADERS[:-1] if wide else WORK_HEADERS, rows, right=(4, 6))


def messages_text(works: Iterable[WorkView]) -> str:
    """Each work's whole message (a pending reason, a traceback), under its name, indented; "" when none has one."""
    blocks = []
    for work in works:
        lines = [safe_text(line.rstrip()) for line in work.message.strip("\n").splitlines()]
        if any(lines):
            blocks.append(f"{work.work_name}:\n" + "\n".join(f"    {line}" for line in lines))
    return "\n".join(blocks)


def serving_table(works: Iterable[WorkView]) -> str:
    """One row per serving work: its URL and the same server through the app's HTTP address; "" when none serves."""
    rows = [(w.work_name, w.url, w.proxy_url or None) for w in works if w.url]
    return table(("WORK", "URL", "PROXIED URL"), rows) if rows else ""


def request_text(request: RequestView) -> str:
    """A request in a few words: engine, job id, what it asks for and for which work."""
    job = request.engine_id or "(submitting)"
    return f"{request.engine} {job}: {request.resources} for {request.work_name}"


def agents_table(agents: Iterable[AgentView]) -> str:
    """One row per agent: host, state, CPUs / memory / GPUs used of total, works, heartbeat age, labels.

    When agents come from an engine (``--provider``), the request each answers, including those not connected
    yet.
    """
    agents = list(agents)
    rows: list[list[Any]] = []
    for a in agents:
        if not a.agent_id and a.request is not None:  # requested, not connected
            state = f"{a.state} ({a.request.reason})" if a.request.reason else a.state
            rows.append([a.name, a.hostname, state, None, None, None, None, None, None])
        else:
            rows.append([
                a.name,
                a.hostname,
                a.state,
                f"{format_number(a.cpus_used)}/{format_number(a.cpus_total)}",
                f"{format_bytes(a.memory_used_bytes)}/{format_bytes(a.memory_total_bytes)}",
                f"{len(a.gpus_used)}/{len(a.gpu_indices)}",
                len(a.work_names),
                f"{format_duration(a.last_heartbeat_age_s)} ago",
                ",".join(f"{k}={v}" for k, v in sorted(a.labels.items())),
            ])
    if not any(a.request is not None for a in agents):
        return table(AGENT_HEADERS, rows, right=(6,))
    for row, a in zip(rows, agents, strict=True):
        row.append(request_text(a.request) if a.request is not None else None)
    return table((*AGENT_HEADERS, REQUEST_HEADER), rows, right=(6,))


def status_text(app: AppView, now_s: float | None = None, wide: bool = False) -> str:
    """``lightning-ctl status`` for people: the app, then the works table, then the agents table.

    A message cut to fit its column is never cut silently: a note says how many were and how to see them whole.
    With ``wide``, every message is shown whole below the works table.
    """
    head = table(("APP", "STAGE", "PID"), [(app.app_path, app.stage, app.pid)])
    works = works_table(app.works, now_s, wide) if app.works else "(no works)"
    if wide and (messages := messages_text(app.works)):
        works += f"\n\nMESSAGES\n{messages}"
    elif cut := sum(is_cut(w.message) for w in app.works):
        works += (f"\n({cut} message{'s' if cut != 1 else ''} cut to fit: `lightning-ctl status -o wide` shows "
                  "them whole)")
    if serving := serving_table(app.works):
        works += f"\n\nSERVING\n{serving}"
    agents = agents_table(app.agents) if app.agents else "(no agents connected)"
    return f"{head}\n\n{works}\n\n{agents}"


def _or_none(value: Any) -> Any:
    return None if value in ("", 0, 0.0) else value


def work_json(work: WorkView) -> dict[str, Any]:
    """A work for ``--json``: unknown values are null; times are epoch seconds plus an ISO copy."""
    return {
        "name": work.work_name,
        "status": work.stage,
        "reason": _or_none(work.reason),
        "message": _or_none(work.message),
        "status_time": _or_none(work.status_timestamp),
        "agent": _or_none(work.agent_name),
        "agent_id": _or_none(work.agent_id),
        "pid": _or_none(work.pid),
        "process_exited": work.process_exited,
        "attempt": work.attempt,
        "restarts": work.restarts,
        "started_at": _or_none(work.started_at),
        "started_at_iso": iso_time(work.started_at),
        "gpus": list(work.gpu_indices),
        "url": _or_none(work.url),
        "proxy_url": _or_none(work.proxy_url),
    }


def agent_json(agent: AgentView) -> dict[str, Any]:
    """An agent for ``--json``."""
    return {
        "name": agent.name,
        "agent_id": agent.agent_id,
        "host": agent.hostname,
        "state": agent.state,
        "is_local": agent.is_local,
        "labels": dict(agent.labels),
        "cpus": {"used": agent.cpus_used, "total": agent.cpus_total},
        "memory_bytes": {"used": agent.memory_used_bytes, "total": agent.memory_total_bytes},
        "gpus": {"used": list(agent.gpus_used), "total": list(agent.gpu_indices)},
        "works": list(agent.work_names),
        "last_heartbeat_age_s": round(agent.last_heartbeat_age_s, 3),
        "request": request_json(agent.request) if agent.request is not None else None,
    }


def request_json(request: RequestView) -> dict[str, Any]:
    """An engine request for ``--json``."""
    return {
        "request_id": request.request_id,
        "engine": request.engine,
        "engine_id": _or_none(request.engine_id),
        "state": request.state,
        "reason": _or_none(request.reason),
        "resources": request.resources,
        "nodes": request.nodes,
        "work": _or_none(request.work_name),
        "created_at": _or_none(request.created_at),
        "where": _or_none(request.where),
    }


def status_json(app: AppView) -> dict[str, Any]:
    """``lightning-ctl status --json``."""
    return {
        "app": {"app_path": app.app_path, "stage": app.stage, "pid": app.pid},
        "works": [work_json(w) for w in app.works],
        "agents": [agent_json(a) for a in app.agents],
    }


def dumps(document: Any, pretty: bool = True) -> str:
    """JSON text: indented for a document, one line for a stream of them (``pretty=False``)."""
    return json.dumps(document, indent=2 if pretty else None, ensure_ascii=False, allow_nan=True)


# -- logs -----------------------------------------------------------------------------------------------------------


def log_line_text(line: LogLine, timestamps: bool = False) -> str:
    """A work's line as the run console shows it, ``root.w | text``, made safe for a terminal."""
    stamp = f"{iso_time(line.timestamp)} " if timestamps else ""
    return f"{stamp}{line.work_name} | {safe_text(line.text)}"


def log_line_json(line: LogLine) -> dict[str, Any]:
    """A work's line for ``--json`` (one object per line)."""
    return {"work": line.work_name, "time": line.timestamp, "stream": line.stream, "text": line.text}


def dropped_text(count: int) -> str:
    """The marker shown where a reader that fell behind lost lines."""
    return f"[lightning-ctl] {count} line{'s' if count != 1 else ''} dropped here: this reader fell behind"


# -- state ----------------------------------------------------------------------------------------------------------


def flatten_state(state: dict[str, Any], pretty: bool) -> dict[str, Any]:
    """Leaf values of a state by path.

    The ``pretty_state`` view reads like component attributes (``root.counter.count``, ``app.stage``); the full
    state keeps its JSON keys (``works.counter.calls...``). Lists and empty objects are leaves.
    """
    flat: dict[str, Any] = {}
    if pretty:
        _flatten_component(state, "root", flat)
        for key, value in state.get("app_state", {}).items():
            flat[f"app.{key}"] = value
    else:
        _flatten_json(state, "", flat)
    return flat


def _flatten_component(node: dict[str, Any], prefix: str, flat: dict[str, Any]) -> None:
    for name, value in node.get("vars", {}).items():
        _flatten_json(value, f"{prefix}.{name}", flat)
    for kind in ("flows", "works"):
        for name, child in node.get(kind, {}).items():
            _flatten_component(child, f"{prefix}.{name}", flat)


def _flatten_json(value: Any, path: str, flat: dict[str, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _flatten_json(child, f"{path}.{key}" if path else str(key), flat)
    else:
        flat[path] = value


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=True)


def _short(value: Any) -> str:
    text = safe_text(_json(value))
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def state_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What changed between two flattened states, one line per path: ``path: old -> new``."""
    lines = []
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            lines.append(f"{path}: removed (was {_short(before[path])})")
        elif path not in before:
            lines.append(f"{path}: {_short(after[path])} (new)")
        elif _json(before[path]) != _json(after[path]):  # as text, so that NaN equals NaN
            lines.append(f"{path}: {_short(before[path])} -> {_short(after[path])}")
    return lines
