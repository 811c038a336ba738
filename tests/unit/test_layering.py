"""Tests of the layering rules in DESIGN.md: what each package may import, and that `import lightning_ctl.sdk`
stays light.

Import checks run in a fresh interpreter (this test process already imported everything); source checks
read the import statements with ast, including imports nested inside functions.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("grpc", "google.protobuf", "structlog", "aiohttp", "pydantic", "fastapi", "streamlit", "urllib.request")

SDK_IMPORT_BOUND_MS = 300.0
"""Generous bound for `import lightning_ctl.sdk` (target < 100 ms), so a loaded machine does not make the test flaky."""

PROBE = """
import json, sys, time
started = time.perf_counter()
import {module}
elapsed_ms = (time.perf_counter() - started) * 1000
heavy = sorted(
    name for name in sys.modules
    if any(name == root or name.startswith(root + ".") for root in {heavy!r})
)
print(json.dumps({{"elapsed_ms": elapsed_ms, "heavy": heavy}}))
"""

# Modules allowed to import the generated protos.lightning pb2 modules (the edge), relative to the repository: the
# codec, the control plane's servicers and clients, the agent's stream, its tunnels and its storage client, and the work
# process's socket client. The agent's daemon and supervisors relay work events as opaque bytes and serve storage
# requests as plain types.
PB2_EDGE = (
    "protos/codec/",
    "controlplane/api/",
    "agent/session.py",
    "agent/transfer.py",
    "agent/tunnels.py",
    "agent/work_storage.py",
    "agent/runner/connection.py",
    "agent/runner/unacked.py",
)


def probe_import(module: str, heavy: tuple[str, ...] = HEAVY) -> dict:
    """Import ``module`` in a fresh interpreter; its import time and which heavy modules got loaded."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module, heavy=heavy)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def source_files(package: str) -> list[Path]:
    """The hand-written Python files of ``package`` (generated pb2 modules excluded)."""
    files = (REPO / package).rglob("*.py")
    return sorted(p for p in files if not p.name.endswith(("_pb2.py", "_pb2_grpc.py")))


def imported_modules(path: Path) -> set[str]:
    """Every absolute module imported anywhere in ``path`` (``from a.b import c`` gives a.b and a.b.c)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def imports_package(names: set[str], package: str) -> list[str]:
    """The names of ``names`` inside ``package`` (a bare folder name means ``lightning_ctl.<folder>``)."""
    if package.split(".")[0] in ("sdk", "protos", "controlplane", "agent"):
        package = f"lightning_ctl.{package}"
    return sorted(n for n in names if n == package or n.startswith(package + "."))


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


class TestImportCost:
    def test_import_sdk_is_light(self):
        """`import lightning_ctl.sdk` loads no grpc, protobuf, structlog, web framework, pydantic or HTTP client."""
        result = probe_import("lightning_ctl.sdk")
        assert result["heavy"] == []

    def test_import_sdk_is_fast(self):
        """`import lightning_ctl.sdk` takes well under a few hundred ms (target < 100 ms; the figure is printed)."""
        elapsed_ms = min(probe_import("lightning_ctl.sdk")["elapsed_ms"] for _ in range(3))
        print(f"import lightning_ctl.sdk: {elapsed_ms:.1f} ms")
        assert elapsed_ms < SDK_IMPORT_BOUND_MS

    def test_work_process_does_not_import_grpc(self):
        """The work-process runner (agent.runner.work_process) starts without importing grpc."""
        result = probe_import("lightning_ctl.agent.runner.work_process", heavy=("grpc",))
        assert result["heavy"] == []


class TestPackageBoundaries:
    @pytest.mark.parametrize("path", source_files("controlplane"), ids=rel)
    def test_controlplane_never_imports_agent(self, path):
        """controlplane modules do not import the agent package."""
        assert imports_package(imported_modules(path), "agent") == []

    @pytest.mark.parametrize("path", source_files("agent"), ids=rel)
    def test_agent_never_imports_controlplane(self, path):
        """agent modules do not import the controlplane package."""
        assert imports_package(imported_modules(path), "controlplane") == []

    @pytest.mark.parametrize("path", source_files("sdk"), ids=rel)
    def test_sdk_imports_no_upper_layer_or_wire_library(self, path):
        """sdk modules import neither protos, controlplane, agent nor grpc/protobuf at all."""
        names = imported_modules(path)
        forbidden = ("protos", "controlplane", "agent", "grpc", "google.protobuf")
        found = [n for package in forbidden for n in imports_package(names, package)]
        assert found == []

    @pytest.mark.parametrize(
        "path",
        [p for package in ("sdk", "protos", "controlplane", "agent") for p in source_files(package)],
        ids=rel,
    )
    def test_only_edge_modules_import_pb2(self, path):
        """Only the edge modules (codec, servicers, server, interceptors, agent session etc.) use pb2."""
        pb2 = imports_package(imported_modules(path), "protos.lightning")
        if rel(path).startswith(PB2_EDGE):
            return
        assert pb2 == [], f"{rel(path)} imports {pb2}"

    def test_scanner_sees_nested_and_from_imports(self, tmp_path):
        """The import scanner finds function-level imports and `from x import y` forms."""
        sample = tmp_path / "sample.py"
        sample.write_text(
            "def f():\n    from lightning_ctl.protos.lightning import v1\n    import lightning_ctl.agent.session\n"
        )
        names = imported_modules(sample)
        assert imports_package(names, "protos.lightning") == [
            "lightning_ctl.protos.lightning",
            "lightning_ctl.protos.lightning.v1",
        ]
        assert imports_package(names, "agent") == ["lightning_ctl.agent.session"]


ASYNC_SIDE = ("agents", "api", "output", "providers", "storage")
"""The control plane's asyncio side; ``flows/`` (the flow thread) meets it only through queues and queries."""
BRIDGE = ("lightning_ctl.controlplane.flows.queries",)
"""What the asyncio side may use of ``flows/``: the query box that hands questions to the flow thread."""


class TestControlPlaneSubpackages:
    @pytest.mark.parametrize("path", source_files("controlplane/flows"), ids=rel)
    def test_flows_never_import_the_asyncio_side(self, path):
        """The flow thread's modules import neither agents/, api/ nor output/ (nor grpc)."""
        names = imported_modules(path)
        found = [n for sub in ASYNC_SIDE for n in imports_package(names, f"controlplane.{sub}")]
        assert found + imports_package(names, "grpc") == []

    @pytest.mark.parametrize(
        "path", [p for sub in ASYNC_SIDE for p in source_files(f"controlplane/{sub}")], ids=rel
    )
    def test_asyncio_side_reaches_flows_only_through_queries(self, path):
        """agents/, api/ and output/ use nothing of flows/ but the query box."""
        flows = imports_package(imported_modules(path), "controlplane.flows")
        assert [n for n in flows if not n.startswith(BRIDGE)] == []


def runtime_imports(path: Path) -> set[str]:
    """Modules ``path`` imports when it runs (anywhere, functions included), leaving out ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"
        for stmt in node.body
        for child in ast.walk(stmt)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_sdk_modules_import_each_other_without_cycles() -> None:
    """No SDK module imports, at run time, one that imports it back (flows, works and structures are told apart
    through their common base class, not by importing each other)."""
    modules = {f"lightning_ctl.sdk.{p.stem}" if p.stem != "__init__" else "lightning_ctl.sdk": p
               for p in source_files("sdk")}
    graph = {name: {m for m in runtime_imports(path) if m in modules and m != name} for name, path in modules.items()}
    graph["lightning_ctl.sdk"] = set()  # the package re-exports its modules; it is nobody's dependency

    def cycle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return [*path, start]
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
        return None

    cycles = [cycle for name in sorted(graph) if (cycle := cycle_from(name))]
    assert cycles == [], " -> ".join(cycles[0])
