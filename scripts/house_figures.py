"""Print the shape of the code at a git revision: modules per folder, the largest modules, import edges between the
control plane's sub-packages and the ``duplicates`` rows outside generated code and tests.

    .venv/bin/python scripts/house_figures.py [REV ...]     # default: the working tree

Each REV is exported with ``git archive`` into a temporary folder, so nothing in the worktree changes. The
``duplicates`` figure needs the ``duplicates`` tool on PATH (it is said when it is missing). Only the product
packages count (sdk, protos, controlplane, agent); generated ``*_pb2*`` modules never do.
"""

from __future__ import annotations

import argparse
import ast
import collections
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sdk", "protos", "controlplane", "agent")
GENERATED = re.compile(r"_pb2(_grpc)?\.pyi?$")
DUPLICATE_ROW = re.compile(r"^D\d+ (\S+?):\d+-\d+ ~ (\S+?):\d+-\d+")


def product_modules(tree: Path) -> list[Path]:
    """The hand-written Python modules of the product packages under ``tree``."""
    found = [p for package in PACKAGES for p in (tree / package).rglob("*.py") if not GENERATED.search(p.name)]
    return sorted(found)


def modules_per_folder(tree: Path) -> dict[str, int]:
    """{folder relative to ``tree``: how many product modules it holds directly}."""
    counts: collections.Counter[str] = collections.Counter()
    for path in product_modules(tree):
        counts[str(path.parent.relative_to(tree))] += 1
    return dict(sorted(counts.items()))


def largest_modules(tree: Path, how_many: int = 3) -> list[tuple[int, str]]:
    """The ``how_many`` longest product modules as (lines, path)."""
    sizes = [(len(p.read_text().splitlines()), str(p.relative_to(tree))) for p in product_modules(tree)]
    return sorted(sizes, reverse=True)[:how_many]


def controlplane_part(tree: Path, module: str) -> str | None:
    """The control plane sub-package a dotted module name belongs to (``top`` for modules directly in it)."""
    for prefix in ("lightning_ctl.controlplane.", "controlplane."):
        if module.startswith(prefix):
            first = module[len(prefix):].split(".")[0]
            return first if (tree / "controlplane" / first).is_dir() else "top"
    return None


def controlplane_edges(tree: Path) -> collections.Counter[tuple[str, str]]:
    """{(importing sub-package, imported sub-package): number of importing modules}, across sub-packages only."""
    root = tree / "controlplane"
    edges: collections.Counter[tuple[str, str]] = collections.Counter()
    for path in product_modules(tree):
        if root not in path.parents:
            continue
        relative = path.relative_to(root).parts
        source = relative[0] if len(relative) > 1 else "top"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            parts = {controlplane_part(tree, name) for name in names}
            targets.update(part for part in parts if part is not None and part != source)
        for target in targets:
            edges[(source, target)] += 1
    return edges


def duplicate_rows(tree: Path) -> tuple[int, list[str]] | None:
    """(rows, the rows) of ``duplicates`` with neither side in tests or generated code; None without the tool."""
    if shutil.which("duplicates") is None:
        return None
    out = subprocess.run(["duplicates", "--repo", str(tree), "--most", "200", "--seconds", "120"],
                         capture_output=True, text=True, check=False).stdout
    rows = []
    for line in out.splitlines():
        match = DUPLICATE_ROW.match(line)
        if match and not any(side.startswith("tests/") or GENERATED.search(side) for side in match.groups()):
            rows.append(line)
    return len(rows), rows


def export(rev: str, into: Path) -> Path:
    """``git archive rev`` unpacked under ``into``."""
    archive = into / "tree.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), rev], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def report(label: str, tree: Path, show_rows: bool) -> None:
    """Print every figure for ``tree``."""
    print(f"== {label}")
    folders = modules_per_folder(tree)
    print(f"modules: {sum(folders.values())} in {len(folders)} folders")
    for folder, count in folders.items():
        print(f"  {count:4d}  {folder}")
    print("largest: " + ", ".join(f"{path} ({lines} lines)" for lines, path in largest_modules(tree)))
    edges = controlplane_edges(tree)
    print(f"controlplane sub-package import edges: {len(edges)} ({sum(edges.values())} importing modules)")
    for (source, target), count in sorted(edges.items()):
        print(f"  {source} -> {target}: {count}")
    duplicates = duplicate_rows(tree)
    if duplicates is None:
        print("duplicates: the duplicates tool is not on PATH")
    else:
        print(f"duplicates rows outside tests and generated code: {duplicates[0]}")
        for row in duplicates[1] if show_rows else ():
            print(f"  {row}")


def main() -> int:
    """Print the figures for each revision asked for (the working tree by default)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revs", nargs="*", help="git revisions (default: the working tree)")
    parser.add_argument("--rows", action="store_true", help="print the duplicates rows too")
    args = parser.parse_args()
    if not args.revs:
        report("working tree", ROOT, args.rows)
        return 0
    for rev in args.revs:
        with tempfile.TemporaryDirectory() as folder:
            report(rev, export(rev, Path(folder)), args.rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
