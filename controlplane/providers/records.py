"""The requests an app's control plane made, kept in the app's home.

A restarted control plane finds the engine's jobs again through them
(``~/.lightning-ctl/apps/<digest>/agent-requests.json``, owner-only).

Only requests the engine may still hold are kept: live ones, and released ones the engine has not confirmed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import structlog

from lightning_ctl.controlplane.providers.base import AgentSpec, EngineState
from lightning_ctl.controlplane.providers.planner import AgentRequest
from lightning_ctl.sdk._events import ResourceRequest
from lightning_ctl.sdk._files import write_atomic

log = structlog.get_logger(component="providers")

FILE_NAME = "agent-requests.json"


def request_to_dict(request: AgentRequest) -> dict[str, Any]:
    """What is kept of one request."""
    resources = request.spec.resources
    return {
        "request_id": request.request_id,
        "work_name": request.work_name,
        "created_at": request.created_at,
        "engine_id": request.engine_id,
        "engine_state": request.engine_state.value if request.engine_state else None,
        "released": request.released,
        "nodes": request.spec.nodes,
        "resources": {"gpus": resources.gpus, "cpus": resources.cpus, "memory_bytes": resources.memory_bytes,
                      "labels": dict(resources.labels), "image": resources.image},
        "agent_ids": sorted(request.agent_ids),
        "ever_joined": request.ever_joined,
        "ever_busy": request.ever_busy,
        "join_token_id": request.join_token_id,
    }


def request_from_dict(data: dict[str, Any]) -> AgentRequest:
    """A request as kept by :func:`request_to_dict`."""
    state = data.get("engine_state")
    return AgentRequest(
        request_id=data["request_id"],
        spec=AgentSpec(ResourceRequest(**data["resources"]), int(data.get("nodes", 1))),
        work_name=data["work_name"],
        created_at=float(data["created_at"]),
        engine_id=data.get("engine_id", ""),
        engine_state=EngineState(state) if state else None,
        released=data.get("released", ""),
        agent_ids=set(data.get("agent_ids", ())),
        ever_joined=bool(data.get("ever_joined", False)),
        ever_busy=bool(data.get("ever_busy", False)),
        join_token_id=data.get("join_token_id", ""),
    )


class RequestRecords:
    """The file of one app's requests."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE_NAME
        self._saved = ""

    def load(self) -> tuple[str, list[AgentRequest]]:
        """The engine and the requests a previous run left ("" and none when there is no file, or it is unreadable)."""
        try:
            data = json.loads(self.path.read_text())
            return data["engine"], [request_from_dict(r) for r in data["requests"]]
        except FileNotFoundError:
            return "", []
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("agent_requests_unreadable", path=str(self.path), error=str(exc),
                        hint="jobs a previous run left in the engine are not released; check the engine's queue")
            return "", []

    def save(self, engine: str, requests: list[AgentRequest]) -> None:
        """Keep the requests the engine may still hold (when they changed)."""
        kept = [request_to_dict(r) for r in requests if r.is_live or (r.released and not r.release_confirmed)]
        text = json.dumps({"engine": engine, "requests": kept}, indent=1, sort_keys=True)
        if text != self._saved:
            write_atomic(self.path, text)
            self._saved = text
