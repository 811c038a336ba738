"""Fail on any finding of ruff (the whole repository) or mypy (the product packages); scripts/test runs it.

    .venv/bin/python scripts/check_lint.py [--ruff-only | --mypy-only]

Both read their settings from pyproject.toml. The repository's folders install as ``lightning_ctl.<folder>``
(``package-dir``), which mypy cannot follow through the editable install; so, as scripts/gen_protos.py does for
protoc, mypy runs from a temporary folder in which the repository appears as ``lightning_ctl/`` (a symlink), with
its cache kept in the repository's ``.mypy_cache`` so that a second run takes seconds.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "lightning_ctl"
PACKAGES = ("sdk", "protos", "controlplane", "agent")
BIN = Path(sys.executable).parent


def run_ruff() -> int:
    """``ruff check`` on the repository; its exit status."""
    return subprocess.run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=ROOT, check=False).returncode


def run_mypy() -> int:
    """mypy on the product packages, seen under their import names; its exit status."""
    with tempfile.TemporaryDirectory() as namespace_root:
        (Path(namespace_root) / NAMESPACE).symlink_to(ROOT, target_is_directory=True)
        packages = [arg for package in PACKAGES for arg in ("-p", f"{NAMESPACE}.{package}")]
        command = [str(BIN / "mypy"), "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir",
                   str(ROOT / ".mypy_cache"), "--python-executable", sys.executable, *packages]
        return subprocess.run(command, cwd=namespace_root, check=False).returncode


def main() -> int:
    """Run the checks asked for (both by default); 0 when neither found anything."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--ruff-only", action="store_true", help="run ruff only")
    only.add_argument("--mypy-only", action="store_true", help="run mypy only")
    args = parser.parse_args()
    failed = []
    if not args.mypy_only and run_ruff() != 0:
        failed.append("ruff")
    if not args.ruff_only and run_mypy() != 0:
        failed.append("mypy")
    if failed:
        print(f"check_lint: {' and '.join(failed)} found problems (see above); fix them, or justify an exception "
              "where it is made", file=sys.stderr)
        return 1
    print("check_lint: ruff and mypy found nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
