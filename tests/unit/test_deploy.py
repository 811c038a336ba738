"""deploy/: the Helm chart renders (with Helm's own engine, from the helm-python-sdk dev dependency: no helm
binary here) into objects valid against the official Kubernetes OpenAPI schemas, lints clean, and wires the
control plane as documented; the Dockerfile installs every package the project ships."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

helm = pytest.importorskip("helm_python", reason="helm-python-sdk (dev extra, Linux x86_64 only) is not installed")
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (dev extra) missing")
yaml = pytest.importorskip("yaml", reason="PyYAML (installed with the kubernetes extra) missing")

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "lightning-ctl"
EVERYTHING = {
    "token": "t0ken",
    "app": {"configMap": "my-app", "env": {"MODE": "prod"}},
    "agents": {"kueueQueue": "team-a", "priorityClassName": "batch", "extraProviderOptions": {"poll-interval": 5}},
    "tls": {"secretName": "cp-tls"},
    "persistence": {"storageClassName": "fast"},
    "imagePullSecrets": [{"name": "regcred"}],
    "nodeSelector": {"pool": "cpu"},
    "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values, name="demo", namespace="ml")
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]


@pytest.mark.parametrize("values", [{}, EVERYTHING], ids=["defaults", "every-option"])
def test_the_chart_renders_objects_valid_against_the_kubernetes_schemas(values: dict[str, Any]) -> None:
    """Deployment, Service, PVC, Secret, ServiceAccount, Role and RoleBinding, each valid (strictly)."""
    documents = render(values)
    assert sorted(d["kind"] for d in documents) == [
        "Deployment", "PersistentVolumeClaim", "Role", "RoleBinding", "Secret", "Service", "ServiceAccount"]
    for document in documents:
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)


def test_the_chart_lints_without_errors() -> None:
    """helm lint finds no error."""
    assert helm.lint(str(CHART))["errors"] == []


def test_the_control_plane_starts_agents_as_pods_in_its_namespace_only() -> None:
    """The Deployment runs `run --provider kubernetes` in the release's namespace, agents dial its Service, the
    checkpoint lives on the PVC, and the Role (namespaced, no ClusterRole) grants what agents on demand need."""
    documents = {d["kind"]: d for d in render(EVERYTHING)}
    container = documents["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    for expected in ("kubernetes", "namespace=ml", "control-plane=demo-lightning-ctl.ml.svc:7000", "queue=team-a",
                     "poll-interval=5", "MODE=prod"):
        assert expected in args, (expected, args)
    assert {"name": "HOME", "value": "/data"} in container["env"]
    volumes = documents["Deployment"]["spec"]["template"]["spec"]["volumes"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "demo-lightning-ctl"}} in volumes
    rules = {tuple(r["resources"]): set(r["verbs"]) for r in documents["Role"]["rules"]}
    assert {"create", "list", "delete"} <= rules[("pods", "secrets", "services")]
    assert {"create", "list", "delete"} <= rules[("jobs",)]
    assert documents["Secret"]["stringData"]["token"] == "t0ken"


def test_the_dockerfile_copies_every_package_folder() -> None:
    """Each top-level folder pyproject installs is copied into the image (else the image's install breaks)."""
    packages = re.findall(r'"lightning_ctl\.(\w+)[".]', (REPO / "pyproject.toml").read_text())
    copied = set(re.findall(r"^COPY (\w+) ", (REPO / "Dockerfile").read_text(), re.MULTILINE))
    assert set(packages) <= copied, set(packages) - copied
