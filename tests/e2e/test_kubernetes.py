"""End-to-end on a real Kubernetes cluster: an app whose work needs an agent runs on a Pod the provider created,
and the Pod is deleted when the app ends. Runs only when asked (it needs a cluster this machine has none of):

    LIGHTNING_CTL_K8S_E2E=1 KUBECONFIG=~/.kube/config \\
    LIGHTNING_CTL_K8S_IMAGE=registry/lightning-ctl:dev       # an image with lightning-agent (see Dockerfile)
    LIGHTNING_CTL_K8S_CONTROL_PLANE=HOST:PORT                # where Pods reach this machine's control plane
    [LIGHTNING_CTL_K8S_NAMESPACE=default] pytest tests/e2e/test_kubernetes.py
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.e2e import tagged
from tests.helpers.processes import AppProcess

APP = Path(__file__).resolve().parent / "apps_providers" / "on_demand.py"
KUBECONFIG = os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def _skip_reason() -> str | None:
    if os.environ.get("LIGHTNING_CTL_K8S_E2E") != "1":
        return "a real-cluster test: set LIGHTNING_CTL_K8S_E2E=1 (and a kubeconfig, image and address) to run it"
    if not Path(KUBECONFIG).exists():
        return f"LIGHTNING_CTL_K8S_E2E=1 but no kubeconfig at {KUBECONFIG}"
    missing = [v for v in ("LIGHTNING_CTL_K8S_IMAGE", "LIGHTNING_CTL_K8S_CONTROL_PLANE") if not os.environ.get(v)]
    if missing:
        return f"LIGHTNING_CTL_K8S_E2E=1 needs {', '.join(missing)}"
    return None


@pytest.mark.e2e
@pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")
def test_a_work_runs_on_a_pod_the_provider_created(tmp_path: Path) -> None:
    """A CPU work waits, a Pod is created for it, its agent joins and runs the work, the app ends cleanly."""
    kubernetes = pytest.importorskip("kubernetes")
    tag = uuid.uuid4().hex
    host, _, port = os.environ["LIGHTNING_CTL_K8S_CONTROL_PLANE"].rpartition(":")
    namespace = os.environ.get("LIGHTNING_CTL_K8S_NAMESPACE", "default")
    app = AppProcess(APP, "--provider", "kubernetes", "--host", "0.0.0.0", "--port", port,
                     "--provider-option", f"namespace={namespace}",
                     "--provider-option", f"image={os.environ['LIGHTNING_CTL_K8S_IMAGE']}",
                     "--provider-option", f"control-plane={host}:{port}", "--provider-option", "poll-interval=2",
                     env={"HOME": str(tmp_path), "KUBECONFIG": KUBECONFIG, "ON_DEMAND_GPUS": "0",
                          "LIGHTNING_CTL_E2E_TAG": tag})
    try:
        run = app.wait(600)
        assert run.exit_code == 0, run.stderr
        assert "STARTED" in run.stdout
        api = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(config_file=KUBECONFIG))
        pods = api.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/managed-by=lightning-ctl")
        assert all(p.metadata.deletion_timestamp for p in pods.items), "a Pod outlived the app"
    finally:
        app.kill_all()
        for pid in tagged(tag):
            os.kill(pid, 9)
