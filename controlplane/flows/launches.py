"""What a work's launch says: where its code is, how to rebuild it, its attributes and what it needs from an agent."""

from __future__ import annotations

import json
from typing import Any

from lightning_ctl.sdk._component import to_json
from lightning_ctl.sdk._events import LaunchWork, ResourceRequest
from lightning_ctl.sdk._work import LightningWork


def build_launch(work: LightningWork, attempt: int, app_path: str, env: dict[str, str], stop_grace_s: float,
                 start_action: bool, cause: str) -> LaunchWork:
    """The launch of ``attempt`` of ``work``, carrying the flow's view of its attributes."""
    return LaunchWork(
        work_name=work.name,
        attempt=attempt,
        app_path=app_path,
        vars=_sendable_vars(work),
        env=env,
        start_action=start_action,
        stop_grace_s=stop_grace_s,
        work_class=f"{type(work).__module__}:{type(work).__qualname__}",
        init_args=_init_args(work),
        resources=resource_request(work),
        agent_lost_grace_s=work.restart_policy.agent_lost_grace_s,
        cause=cause,
        port=work.__dict__.get("_asked_port") or 0,
        readiness_path=work.readiness_path or "",
    )


def resource_request(work: LightningWork) -> ResourceRequest:
    """What ``work`` needs from an agent.

    Its GPUs (by count or by name, e.g. "gpu"), labels, and only explicit CPUs and memory (named sizes such as
    "cpu-small" were cloud instance types and reserve nothing here).
    """
    compute = work.cloud_compute
    wanted = compute.resource_request()
    return ResourceRequest(
        gpus=int(wanted["gpus"]),
        cpus=float(wanted["cpus"]) if compute.cpus is not None else 0.0,
        memory_bytes=int(wanted["memory_bytes"]) if compute.memory is not None else 0,
        labels=dict(wanted["labels"]),
        image=work.cloud_build_config.image or "",
    )


def _sendable_vars(work: LightningWork) -> dict[str, Any]:
    """The work's state attributes as the flow sees them, minus the ones the work cannot take back."""
    return json.loads(to_json({n: work.__dict__[n] for n in work._state_names() if n != "_cloud_compute"}))


def _init_args(work: LightningWork) -> dict[str, Any] | None:
    """The work's constructor arguments as JSON, or None when they are not JSON (it cannot be rebuilt then)."""
    args, kwargs = work.__dict__.get("_init_args", ((), {}))
    try:
        return json.loads(to_json({"args": list(args), "kwargs": kwargs}))
    except (TypeError, ValueError):
        return None
