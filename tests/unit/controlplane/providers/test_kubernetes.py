"""The Kubernetes provider without a cluster: every manifest it renders is valid against the official Kubernetes
OpenAPI schemas (``kubernetes-validate``, offline), and its create / poll / delete logic, run by the real
``kubernetes`` client, replays an API conversation (``data/k8s_conversation.json``) on a loopback server."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from lightning_ctl.controlplane.errors import ProviderError
from lightning_ctl.controlplane.providers import k8s_manifests as manifests
from lightning_ctl.controlplane.providers.agent_command import common_agent_args
from lightning_ctl.controlplane.providers.base import AgentLaunch, AgentSpec, EngineState
from lightning_ctl.controlplane.providers.kubernetes import KubernetesProvider, gang_status, pod_status
from lightning_ctl.controlplane.providers.settings import ProviderSettings
from lightning_ctl.sdk._events import ResourceRequest

kubernetes = pytest.importorskip("kubernetes", reason="the kubernetes extra is not installed")
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (dev extra) missing")

CONVERSATION = Path(__file__).parent / "data" / "k8s_conversation.json"
SETTINGS = manifests.PodSettings(namespace="ml", app_key="app1", image="ghcr.io/acme/agent:1", queue="team-a",
                                 service_account="agents", priority_class="batch", image_pull_secret="regcred")


def launch(spec: AgentSpec, request_id: str = "r1") -> AgentLaunch:
    return AgentLaunch(request_id, spec, "cp.ml.svc:7000", "JOIN-TOKEN",
                       common_agent_args(spec, "cp.ml.svc:7000", 20.0))


GPU_WORK = AgentSpec(ResourceRequest(gpus=2, cpus=7.5, memory_bytes=32 * 2**30, labels={"zone": "a"},
                                     image="ghcr.io/acme/trainer:1"))
GANG = AgentSpec(ResourceRequest(gpus=8, cpus=32), nodes=4)


def validate(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.parametrize("render", [
    lambda: manifests.secret(launch(GPU_WORK), SETTINGS),
    lambda: manifests.pod(launch(GPU_WORK), SETTINGS),
    lambda: manifests.pod(launch(AgentSpec()), SETTINGS),
    lambda: manifests.gang_service(launch(GANG), SETTINGS),
    lambda: manifests.gang_job(launch(GANG), SETTINGS),
], ids=["secret", "gpu-pod", "plain-pod", "gang-service", "gang-job"])
def test_every_manifest_is_valid_against_the_kubernetes_schemas(render: Any) -> None:
    """Each object the provider creates validates (strictly: no unknown field) against the OpenAPI schemas."""
    validate(render())


def test_the_pod_asks_for_exactly_the_works_resources() -> None:
    """GPUs as nvidia.com/gpu limits, CPUs rounded up, memory, labels as nodeSelector, the work's image, the
    Kueue queue label, the credential from the Secret (never in the spec)."""
    pod = manifests.pod(launch(GPU_WORK), SETTINGS)
    container = pod["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "8", "memory": "32768Mi", "nvidia.com/gpu": "2"}
    assert container["resources"]["requests"] == container["resources"]["limits"]
    assert pod["spec"]["nodeSelector"] == {"zone": "a"}
    assert container["image"] == "ghcr.io/acme/trainer:1"
    assert pod["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert pod["metadata"]["labels"]["lightning-ctl/request"] == "r1"
    token = next(e for e in container["env"] if e["name"] == "LIGHTNING_AGENT_JOIN_TOKEN")
    assert token["valueFrom"]["secretKeyRef"]["name"] == "lightning-agent-r1"
    assert "JOIN-TOKEN" not in json.dumps(pod)
    assert "--stop-works-on-exit" in container["args"] and "--gpus" in container["args"]


def test_a_pod_without_an_image_is_refused_with_the_fix() -> None:
    """No BuildConfig(image=...) and no image= option: an error saying both ways to give one."""
    with pytest.raises(ValueError, match=r"BuildConfig\(image=...\).*--provider-option image="):
        manifests.pod(launch(AgentSpec()), manifests.PodSettings(namespace="ml", app_key="app1"))


def test_a_gang_is_an_indexed_job_of_n_pods_behind_a_headless_service() -> None:
    """nodes=4: Indexed, 4 completions at once, no retries, Pods in the headless Service's subdomain."""
    job = manifests.gang_job(launch(GANG), SETTINGS)
    assert (job["spec"]["completionMode"], job["spec"]["completions"], job["spec"]["parallelism"]) == (
        "Indexed", 4, 4)
    assert job["spec"]["backoffLimit"] == 0
    service = manifests.gang_service(launch(GANG), SETTINGS)
    assert service["spec"]["clusterIP"] == "None"
    assert job["spec"]["template"]["spec"]["subdomain"] == service["metadata"]["name"]


def test_pod_states_map_to_the_requests_states() -> None:
    """Unschedulable and Kueue-gated Pods are queued with the reason; pulling is running (starting); an ended or
    deleted Pod is gone; a suspended gang is queued."""
    unschedulable = {"status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes"}]}}
    assert pod_status(unschedulable).reason == "Unschedulable: 0/3 nodes"
    gated = {"spec": {"schedulingGates": [{"name": "kueue.x-k8s.io/admission"}]}, "status": {"phase": "Pending"}}
    assert pod_status(gated).state == EngineState.QUEUED and "kueue" in pod_status(gated).reason
    pulling = {"spec": {"nodeName": "n1"}, "status": {"phase": "Pending", "containerStatuses": [
        {"state": {"waiting": {"reason": "ImagePullBackOff"}}}]}}
    assert (pod_status(pulling).state, pod_status(pulling).reason) == (EngineState.RUNNING, "ImagePullBackOff")
    failed = {"status": {"phase": "Failed", "reason": "Evicted"}}
    assert pod_status(failed).state == EngineState.GONE and "Evicted" in pod_status(failed).reason
    assert gang_status([], {"spec": {"suspend": True}}, 4).state == EngineState.QUEUED
    assert gang_status([], None, 4).state == EngineState.GONE


class _Replay(BaseHTTPRequestHandler):
    """Answers each request with the next recorded exchange, after checking its method and path."""

    exchanges: list[dict[str, Any]] = []
    received: list[tuple[str, str, Any]] = []
    mismatches: list[str] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.received.append((self.command, self.path, body))
        if not self.exchanges:
            self.mismatches.append(f"unexpected {self.command} {self.path}")
            self.send_response(500)
            self.end_headers()
            return
        exchange = self.exchanges.pop(0)
        expected = exchange["request"]
        if (expected["method"], expected["path"]) != (self.command, self.path):
            self.mismatches.append(f"expected {expected['method']} {expected['path']}, got {self.command} {self.path}")
        payload = json.dumps(exchange["response"]["body"]).encode()
        self.send_response(exchange["response"]["status"])
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer  # noqa: N815

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api_server() -> Iterator[str]:
    """The recorded conversation, served on 127.0.0.1."""
    _Replay.exchanges = json.loads(CONVERSATION.read_text())["exchanges"]
    _Replay.received = []
    _Replay.mismatches = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Replay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_create_poll_and_delete_replay_the_recorded_conversation(api_server: str) -> None:
    """submit creates the Secret, the Pod and the Secret's owner reference; polls read the scheduler's reason,
    then starting, then running; release deletes the Pod and (already collected) Secret; a vanished Pod is gone."""
    configuration = kubernetes.client.Configuration(host=api_server)
    client = kubernetes.client.ApiClient(configuration)
    settings = ProviderSettings("kubernetes", {"namespace": "ml", "queue": "team-a"})
    provider = KubernetesProvider(settings, app_key="app1", client=client)
    spec = AgentSpec(ResourceRequest(gpus=2, cpus=8, labels={"zone": "a"}, image="ghcr.io/acme/trainer:1"))

    async def conversation() -> list[Any]:
        engine_id = await provider.submit(launch(spec))
        seen = [await provider.poll([engine_id]) for _ in range(3)]
        await provider.release([engine_id])
        seen.append(await provider.poll([engine_id]))
        return [engine_id, *seen]

    engine_id, unscheduled, starting, running, gone = asyncio.run(conversation())
    provider.close()
    assert _Replay.mismatches == [] and _Replay.exchanges == [], (_Replay.mismatches, _Replay.exchanges)
    assert engine_id == "pod/lightning-agent-r1"
    assert unscheduled[engine_id].state == EngineState.QUEUED
    assert "Insufficient nvidia.com/gpu" in unscheduled[engine_id].reason
    assert (starting[engine_id].state, starting[engine_id].reason) == (EngineState.RUNNING, "ContainerCreating")
    assert (running[engine_id].state, running[engine_id].where) == (EngineState.RUNNING, "gpu-node-2")
    assert gone[engine_id].state == EngineState.GONE
    (_, _, secret), (_, _, pod), (_, _, patch) = _Replay.received[:3]
    assert secret["stringData"] == {"token": "JOIN-TOKEN"}
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert patch["metadata"]["ownerReferences"][0]["uid"] == "6f1c2a9e-0d3b-4a51-9a55-2f7d0e3c1b10"


def test_an_api_error_is_a_provider_error_with_the_servers_words(api_server: str) -> None:
    """A refused call (here: the conversation expects a Secret first, gets a LIST) surfaces the API's status."""
    _Replay.exchanges = [{"request": {"method": "GET", "path": "/x"}, "response": {"status": 403, "body": {
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "pods is forbidden", "code": 403}}}]
    client = kubernetes.client.ApiClient(kubernetes.client.Configuration(host=api_server))
    provider = KubernetesProvider(ProviderSettings("kubernetes", {"namespace": "ml"}), app_key="app1", client=client)
    with pytest.raises(ProviderError, match="403.*pods is forbidden"):
        asyncio.run(provider.poll(["pod/lightning-agent-r1"]))
    provider.close()
