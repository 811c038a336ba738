"""Fail when the committed generated protobuf modules differ from what scripts/gen_protos.py produces now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = "protos/lightning/v1"


def main() -> int:
    """Regenerate, then compare with git; 0 when fresh."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_protos.py")], check=True, cwd=ROOT)
    diff = subprocess.run(["git", "status", "--porcelain", "--", GENERATED], cwd=ROOT, capture_output=True, text=True)
    if diff.returncode != 0:
        print(f"check_protos: git status failed: {diff.stderr.strip()}", file=sys.stderr)
        return diff.returncode
    if diff.stdout.strip():
        print("check_protos: generated protobuf modules are stale; run scripts/gen_protos.py and commit:\n"
              + diff.stdout, file=sys.stderr)
        return 1
    print("check_protos: generated modules are fresh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
