"""Reading the structlog console lines of ``lightning-ctl`` and ``lightning-agent`` processes in tests."""

from __future__ import annotations

import re
from datetime import datetime

from tests.helpers.agents import AgentProcess, CapturedProcess

SESSION_EVENTS = ("agent_connected", "agent_disconnected", "stream_broken", "works_lost", "work_restarted",
                  "control_plane_listening", "app_resumed", "work_process_adopted", "agent_stopped", "work_stopping",
                  "Traceback", "Error")
"""What :func:`session_log` keeps: connections, losses, restarts, adoptions, and anything that went wrong."""


def timestamp(line: str) -> float:
    """Epoch seconds of a console log line's leading ISO timestamp."""
    return datetime.fromisoformat(line.split()[0].replace("Z", "+00:00")).timestamp()


def log_field(line: str, name: str) -> str:
    """The value of ``name=value`` in a console log line (quotes stripped)."""
    match = re.search(rf"\b{name}=('[^']*'|\"[^\"]*\"|\S+)", line)
    return match.group(1).strip("'\"") if match else ""


def session_log(*processes: CapturedProcess) -> str:
    """The connection-related log lines of ``processes`` (for assertion messages)."""
    return "\n".join(line[:300] for p in processes for line in list(p.stderr_lines)
                     if any(k in line for k in SESSION_EVENTS))


def adopted_works(agent: AgentProcess) -> set[str]:
    """The works ``agent`` logged ``work_process_adopted`` for."""
    return {log_field(line, "work_name") for line in agent.lines_with("work_process_adopted")}
