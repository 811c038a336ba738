"""The Kubernetes objects of one request, as plain dicts.

A Secret holding the agent's one-time join token, and a Pod running one agent, or, for a gang of N nodes, an
Indexed Job of N Pods with a headless Service giving each a stable DNS name. Pure; the tests validate them
against the official OpenAPI schemas.

The Pod asks for exactly the work's resources (``limits["nvidia.com/gpu"]``, CPU and memory, requests equal to
limits), runs on nodes carrying the work's labels (``nodeSelector``), in the work's image
(``BuildConfig(image=...)``) or the provider's (``--provider-option image=``), and carries the Kueue queue label
when a queue is given, so that the cluster's quotas and priorities apply.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from typing import Any

from lightning_ctl.controlplane.providers.agent_command import TOKEN_VARIABLE, whole_cpus
from lightning_ctl.controlplane.providers.base import RESERVED_LABEL_PREFIX, AgentLaunch

APP_LABEL = "lightning-ctl/app"
"""Every object of one app's control plane carries it: the provider lists and cleans up only its own."""
REQUEST_LABEL = "lightning-ctl/request"
"""Every object of one request carries it: a gang's Service selects its Pods by it, a poll sorts Pods by it."""
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
GPU_RESOURCE = "nvidia.com/gpu"
STATE_DIR = "/var/lib/lightning-agent"
_NOT_NODE_LABELS = (RESERVED_LABEL_PREFIX, "slurm/")


@dataclass(frozen=True)
class PodSettings:
    """How every agent Pod of this control plane is made (from ``--provider-option``)."""

    namespace: str
    app_key: str
    """A short id of the app (the value of ``lightning-ctl/app``)."""
    image: str = ""
    """The default image, for works that name none."""
    queue: str = ""
    """The Kueue LocalQueue, or ""."""
    agent_command: str = "lightning-agent"
    service_account: str = ""
    priority_class: str = ""
    image_pull_secret: str = ""
    stop_grace_s: float = 20.0


def object_name(request_id: str) -> str:
    """The name of a request's Pod, Job, Service and Secret."""
    return f"lightning-agent-{request_id}"


def labels(launch: AgentLaunch, settings: PodSettings) -> dict[str, str]:
    """The labels of every object of ``launch``."""
    found = {
        "app.kubernetes.io/name": "lightning-agent",
        "app.kubernetes.io/managed-by": "lightning-ctl",
        APP_LABEL: settings.app_key,
        REQUEST_LABEL: launch.request_id,
    }
    if settings.queue:
        found[KUEUE_QUEUE_LABEL] = settings.queue
    return found


def metadata(launch: AgentLaunch, settings: PodSettings) -> dict[str, Any]:
    """The name, namespace and labels of each object of ``launch``."""
    return {"name": object_name(launch.request_id), "namespace": settings.namespace,
            "labels": labels(launch, settings)}


def secret(launch: AgentLaunch, settings: PodSettings) -> dict[str, Any]:
    """The Secret holding the one-time join token the agent joins with."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(launch, settings),
        "type": "Opaque",
        "stringData": {"token": launch.join_token},
    }


def _image(launch: AgentLaunch, settings: PodSettings) -> str:
    image = launch.spec.resources.image or settings.image
    if not image:
        raise ValueError("no image for the agent's Pod: give the work BuildConfig(image=...) or pass "
                         "--provider-option image=IMAGE")
    return image


def _resources(launch: AgentLaunch) -> dict[str, Any]:
    wanted = launch.spec.resources
    amounts: dict[str, str] = {"cpu": str(whole_cpus(launch.spec))}
    if wanted.memory_bytes:
        amounts["memory"] = f"{math.ceil(wanted.memory_bytes / 2**20)}Mi"
    if wanted.gpus:
        amounts[GPU_RESOURCE] = str(wanted.gpus)
    return {"limits": dict(amounts), "requests": dict(amounts)}


def pod_spec(launch: AgentLaunch, settings: PodSettings, subdomain: str = "") -> dict[str, Any]:
    """The spec of one agent's Pod."""
    wanted = launch.spec.resources
    args = [*launch.agent_args, "--name", "$(POD_NAME)", "--state-dir", STATE_DIR,
            "--cpus", str(whole_cpus(launch.spec)), "--gpus", "all" if wanted.gpus else "none"]
    if wanted.memory_bytes:
        args += ["--memory", str(wanted.memory_bytes)]
    command = shlex.split(settings.agent_command)
    container: dict[str, Any] = {
        "name": "agent",
        "image": _image(launch, settings),
        "command": command,
        "args": args,
        "env": [
            {"name": TOKEN_VARIABLE, "valueFrom": {"secretKeyRef": {"name": object_name(launch.request_id),
                                                                      "key": "token"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "resources": _resources(launch),
        "volumeMounts": [{"name": "state", "mountPath": STATE_DIR}],
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": int(settings.stop_grace_s) + 10,
        "containers": [container],
        "volumes": [{"name": "state", "emptyDir": {}}],
    }
    node_selector = {k: v for k, v in wanted.labels.items() if not k.startswith(_NOT_NODE_LABELS)}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if settings.service_account:
        spec["serviceAccountName"] = settings.service_account
    if settings.priority_class:
        spec["priorityClassName"] = settings.priority_class
    if settings.image_pull_secret:
        spec["imagePullSecrets"] = [{"name": settings.image_pull_secret}]
    if subdomain:
        spec["subdomain"] = subdomain
    return spec


def pod(launch: AgentLaunch, settings: PodSettings) -> dict[str, Any]:
    """The Pod of a one-node request."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata(launch, settings),
        "spec": pod_spec(launch, settings),
    }


def gang_service(launch: AgentLaunch, settings: PodSettings) -> dict[str, Any]:
    """The headless Service that gives each Pod of a gang a stable name (``<pod>.<service>``)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(launch, settings),
        "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                 "selector": {REQUEST_LABEL: launch.request_id}},
    }


def gang_job(launch: AgentLaunch, settings: PodSettings) -> dict[str, Any]:
    """The Indexed Job of a gang: N Pods at once, each one agent, none retried (the restart policy decides)."""
    nodes = launch.spec.nodes
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(launch, settings),
        "spec": {
            "completionMode": "Indexed",
            "completions": nodes,
            "parallelism": nodes,
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels(launch, settings)},
                "spec": pod_spec(launch, settings, subdomain=object_name(launch.request_id)),
            },
        },
    }
