"""The Kubernetes provider.

One Pod per requested agent, an Indexed Job with a headless Service per gang, the agent's one-time join token
in a Secret; the official ``kubernetes`` client (the ``kubernetes`` extra), imported only when chosen.

One LIST of the app's Pods (by label) answers for every request at each poll, plus one LIST of its Jobs when
there are gangs. A Pod waiting for the scheduler reports the scheduler's words (``Unschedulable: 0/3 nodes are
available: 3 Insufficient nvidia.com/gpu``), one held by Kueue says so, one pulling its image says that.
The client's calls block, so they run on a worker thread.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Sequence

import structlog

from lightning_ctl.controlplane.errors import ProviderError
from lightning_ctl.controlplane.providers import k8s_manifests as manifests
from lightning_ctl.controlplane.providers.base import AgentLaunch, EngineState, EngineStatus
from lightning_ctl.controlplane.providers.settings import ProviderSettings

log = structlog.get_logger(component="provider.kubernetes")

OPTIONS = ("namespace", "image", "queue", "kubeconfig", "context", "service-account", "priority-class",
           "image-pull-secret", "agent-command")
EXTRA_HINT = "the kubernetes provider needs the kubernetes extra: pip install 'lightning-ctl[kubernetes]'"
_POD_PREFIX = "pod/"
_JOB_PREFIX = "job/"


def _client() -> Any:
    try:
        import kubernetes
    except ImportError:
        raise ProviderError(EXTRA_HINT) from None
    return kubernetes


def api_client(settings: ProviderSettings) -> Any:
    """A client for the cluster.

    ``kubeconfig=``/``context=``, else $KUBECONFIG or ~/.kube/config, else the in-cluster service account (the
    control plane deployed by ``deploy/helm``).
    """
    kubernetes = _client()
    path = settings.get("kubeconfig") or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    try:
        if settings.get("kubeconfig") or Path(path).exists():
            return kubernetes.config.new_client_from_config(config_file=path, context=settings.get("context") or None)
        kubernetes.config.load_incluster_config()
        return kubernetes.client.ApiClient()
    except (kubernetes.config.ConfigException, OSError) as exc:
        raise ProviderError(f"no Kubernetes cluster to talk to ({exc}): pass --provider-option kubeconfig=PATH") \
            from None


def pod_status(pod: dict[str, Any]) -> EngineStatus:
    """What a Pod (as the API returns it, as a dict) says about its agent."""
    metadata, status = pod.get("metadata") or {}, pod.get("status") or {}
    where = (pod.get("spec") or {}).get("nodeName") or ""
    if metadata.get("deletionTimestamp"):
        return EngineStatus(EngineState.GONE, "being deleted", where)
    phase = status.get("phase") or "Pending"
    if phase in ("Succeeded", "Failed"):
        terminated = [((c.get("state") or {}).get("terminated") or {}) for c in status.get("containerStatuses") or []]
        detail = next((f"{t.get('reason')} (exit {t.get('exitCode')})" for t in terminated if t), "")
        return EngineStatus(EngineState.GONE, " ".join(p for p in (phase, status.get("reason"), detail) if p), where)
    if phase == "Running":
        return EngineStatus(EngineState.RUNNING, "", where)
    if (pod.get("spec") or {}).get("schedulingGates"):
        gates = ",".join(g.get("name", "") for g in pod["spec"]["schedulingGates"])
        return EngineStatus(EngineState.QUEUED, f"SchedulingGated ({gates})", where)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reason = ": ".join(p for p in (condition.get("reason"), condition.get("message")) if p)
            return EngineStatus(EngineState.QUEUED, reason or "Unschedulable", where)
    if not where:
        return EngineStatus(EngineState.QUEUED, "waiting for the scheduler", where)
    waiting = [((c.get("state") or {}).get("waiting") or {}) for c in status.get("containerStatuses") or []]
    reason = next((w.get("reason", "") for w in waiting if w), "ContainerCreating")
    return EngineStatus(EngineState.RUNNING, reason, where)


def gang_status(pods: list[dict[str, Any]], job: dict[str, Any] | None, nodes: int) -> EngineStatus:
    """A gang's state.

    Queued while its Job is suspended (Kueue) or any Pod waits, gone once the Job or any Pod ended, running
    otherwise.
    """
    if job is None:
        return EngineStatus(EngineState.GONE, "the Job no longer exists")
    if (job.get("spec") or {}).get("suspend"):
        return EngineStatus(EngineState.QUEUED, "suspended until admitted (Kueue)")
    statuses = [pod_status(p) for p in pods]
    gone = [s for s in statuses if s.state == EngineState.GONE]
    if gone:
        return gone[0]
    queued = [s for s in statuses if s.state == EngineState.QUEUED]
    if queued or len(statuses) < nodes:
        return queued[0] if queued else EngineStatus(EngineState.QUEUED, f"{len(statuses)} of {nodes} Pods created")
    return EngineStatus(EngineState.RUNNING, "", ",".join(s.where for s in statuses if s.where))


class KubernetesProvider:
    """Agents as Pods (and gangs as Indexed Jobs)."""

    engine = "kubernetes"

    def __init__(self, settings: ProviderSettings, app_key: str, client: Any = None) -> None:
        """``app_key`` names this app's objects (``lightning-ctl/app``): the namespace may hold other apps'."""
        kubernetes = _client()
        from urllib3.exceptions import HTTPError
        self._settings = settings
        self._pods = manifests.PodSettings(
            namespace=settings.get("namespace", "default"),
            app_key=app_key,
            image=settings.get("image"),
            queue=settings.get("queue"),
            agent_command=settings.get("agent-command", "lightning-agent"),
            service_account=settings.get("service-account"),
            priority_class=settings.get("priority-class"),
            image_pull_secret=settings.get("image-pull-secret"),
            stop_grace_s=settings.number("stop-grace", 20.0),
        )
        self._api = client if client is not None else api_client(settings)
        self._core = kubernetes.client.CoreV1Api(self._api)
        self._batch = kubernetes.client.BatchV1Api(self._api)
        self._errors = kubernetes.client.exceptions.ApiException
        self._transport_errors = (OSError, HTTPError)
        self._nodes: dict[str, int] = {}
        """Nodes per gang (by engine id), to tell a gang still being created from one that is complete."""

    @property
    def namespace(self) -> str:
        """Where the agents' objects live."""
        return self._pods.namespace

    async def submit(self, launch: AgentLaunch) -> str:
        """Create the Secret, then the Pod (or the Service and the Indexed Job of a gang); the engine id."""
        try:
            objects = [manifests.pod(launch, self._pods)] if launch.spec.nodes == 1 else [
                manifests.gang_service(launch, self._pods), manifests.gang_job(launch, self._pods)]
        except ValueError as exc:
            raise ProviderError(str(exc)) from None
        await self._call(self._core.create_namespaced_secret, self.namespace, manifests.secret(launch, self._pods))
        owner = None
        for body in objects:
            if body["kind"] == "Pod":
                owner = await self._call(self._core.create_namespaced_pod, self.namespace, body)
            elif body["kind"] == "Service":
                await self._call(self._core.create_namespaced_service, self.namespace, body)
            else:
                owner = await self._call(self._batch.create_namespaced_job, self.namespace, body)
        assert owner is not None, "objects hold a Pod or a Job"
        name = manifests.object_name(launch.request_id)
        kind = "Pod" if launch.spec.nodes == 1 else "Job"
        api_version = "v1" if kind == "Pod" else "batch/v1"
        reference = {"apiVersion": api_version, "kind": kind, "name": name, "uid": owner.metadata.uid}
        # The Secret goes with its owner, even if this control plane never comes back to delete it.
        await self._call(self._core.patch_namespaced_secret, name, self.namespace,
                         {"metadata": {"ownerReferences": [reference]}})
        log.info("kubernetes_agent_created", request_id=launch.request_id, kind=kind, name=name,
                 namespace=self.namespace, resources=launch.spec.describe())
        if kind == "Job":
            self._nodes[_JOB_PREFIX + name] = launch.spec.nodes
            return _JOB_PREFIX + name
        return _POD_PREFIX + name

    async def poll(self, engine_ids: Sequence[str]) -> dict[str, EngineStatus]:
        """One LIST of the app's Pods (and one of its Jobs when there are gangs)."""
        if not engine_ids:
            return {}
        selector = f"{manifests.APP_LABEL}={self._pods.app_key}"
        listed = await self._call(self._core.list_namespaced_pod, self.namespace, label_selector=selector)
        pods: dict[str, list[dict[str, Any]]] = {}
        for item in listed.items:
            data = self._api.sanitize_for_serialization(item)
            request_id = (data.get("metadata", {}).get("labels") or {}).get(manifests.REQUEST_LABEL, "")
            pods.setdefault(manifests.object_name(request_id), []).append(data)
        jobs: dict[str, dict[str, Any]] = {}
        if any(e.startswith(_JOB_PREFIX) for e in engine_ids):
            found = await self._call(self._batch.list_namespaced_job, self.namespace, label_selector=selector)
            jobs = {j.metadata.name: self._api.sanitize_for_serialization(j) for j in found.items}
        statuses = {}
        for engine_id in engine_ids:
            kind, _, name = engine_id.partition("/")
            if kind == "job":
                statuses[engine_id] = gang_status(pods.get(name, []), jobs.get(name),
                                                  self._nodes.get(engine_id, len(pods.get(name, []))))
            elif name in pods:
                statuses[engine_id] = pod_status(pods[name][0])
            else:
                statuses[engine_id] = EngineStatus(EngineState.GONE, "the Pod no longer exists")
        return statuses

    async def release(self, engine_ids: Sequence[str]) -> None:
        """Delete the Pods (Jobs and Services) and their Secrets; the agents get SIGTERM and drain."""
        for engine_id in engine_ids:
            kind, _, name = engine_id.partition("/")
            if kind == "job":
                await self._call(self._batch.delete_namespaced_job, name, self.namespace,
                                 propagation_policy="Background", missing_ok=True)
                await self._call(self._core.delete_namespaced_service, name, self.namespace, missing_ok=True)
            else:
                await self._call(self._core.delete_namespaced_pod, name, self.namespace, missing_ok=True)
            await self._call(self._core.delete_namespaced_secret, name, self.namespace, missing_ok=True)
        log.info("kubernetes_agents_deleted", engine_ids=list(engine_ids), namespace=self.namespace)

    def close(self) -> None:
        """Close the client's connections."""
        self._api.close()

    async def _call(self, method: Any, *args: Any, missing_ok: bool = False, **kwargs: Any) -> Any:
        """One API call on a worker thread; an API error becomes a ProviderError carrying the server's message."""
        try:
            return await asyncio.to_thread(method, *args, **kwargs)
        except self._errors as exc:
            if missing_ok and exc.status == 404:
                return None
            raise ProviderError(f"Kubernetes refused {method.__name__}: {exc.status} {exc.reason}: "
                                f"{(exc.body or '')[:300]}") from None
        except self._transport_errors as exc:
            raise ProviderError(f"cannot reach the Kubernetes API: {exc}") from None
