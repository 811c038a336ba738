"""Regenerate the Python modules of protos/lightning/v1/*.proto (the only producer of *_pb2*.py files).

Run from anywhere: ``python scripts/gen_protos.py``. CI runs it and fails when ``git diff`` is not empty.
The include root is the repository root, so a proto's path equals its Python import path and protoc's generated
imports (``from protos.lightning.v1 import events_pb2``) need no post-processing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos" / "lightning" / "v1"
SERVICES = {"agent.proto", "app.proto"}  # only these define services and get *_pb2_grpc.py modules


def main() -> int:
    """Generate the modules; return protoc's exit status."""
    for old in PROTO_DIR.glob("*_pb2*.py*"):
        old.unlink()
    protos = sorted(PROTO_DIR.glob("*.proto"))
    messages = [str(p.relative_to(ROOT)) for p in protos]
    services = [str(p.relative_to(ROOT)) for p in protos if p.name in SERVICES]
    status = protoc.main(
        ["grpc_tools.protoc", f"-I{ROOT}", f"--python_out={ROOT}", f"--pyi_out={ROOT}", *messages]
    )
    if status == 0 and services:
        status = protoc.main(["grpc_tools.protoc", f"-I{ROOT}", f"--grpc_python_out={ROOT}", *services])
    return status


if __name__ == "__main__":
    sys.exit(main())
