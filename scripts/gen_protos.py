"""Regenerate the Python modules of protos/lightning/v1/*.proto (the only producer of *_pb2*.py files).

Run from anywhere: ``python scripts/gen_protos.py``. CI runs it and fails when ``git diff`` is not empty.

The repository's folders install as ``lightning_ctl.<folder>``, so the protos are compiled from an include root in
which the repository appears as ``lightning_ctl/`` (a symlink in a temporary folder): each proto's path then equals
its Python import path, and protoc's generated imports (``from lightning_ctl.protos.lightning.v1 import
events_pb2``) come out right with no post-processing.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos" / "lightning" / "v1"
NAMESPACE = "lightning_ctl"
SERVICES = {"agent.proto", "app.proto", "storage.proto"}  # only these define services and get *_pb2_grpc.py modules


def main() -> int:
    """Generate the modules; return protoc's exit status."""
    for old in PROTO_DIR.glob("*_pb2*.py*"):
        old.unlink()
    with tempfile.TemporaryDirectory() as include_root:
        (Path(include_root) / NAMESPACE).symlink_to(ROOT, target_is_directory=True)
        protos = sorted(PROTO_DIR.glob("*.proto"))
        messages = [f"{NAMESPACE}/{p.relative_to(ROOT)}" for p in protos]
        services = [f"{NAMESPACE}/{p.relative_to(ROOT)}" for p in protos if p.name in SERVICES]
        out = f"--python_out={include_root}"
        status = protoc.main(["grpc_tools.protoc", f"-I{include_root}", out, f"--pyi_out={include_root}", *messages])
        if status == 0 and services:
            status = protoc.main(
                ["grpc_tools.protoc", f"-I{include_root}", f"--grpc_python_out={include_root}", *services]
            )
    return status


if __name__ == "__main__":
    sys.exit(main())
