"""Shared by the storage apps (not an app itself): whole-line reports, and works pinned to an agent by label."""

from __future__ import annotations

import json
import sys
from typing import Any

from lightning_ctl.sdk import CloudCompute


def report(tag: str, value: Any) -> None:
    """Print ``<tag> <json value>`` as one whole line (read by ``tests.e2e.reported``)."""
    sys.stdout.write(f"{tag} {json.dumps(value)}\n")
    sys.stdout.flush()


def on(side: str) -> CloudCompute:
    """Resources that only the agent started with ``--labels side=<side>`` offers."""
    return CloudCompute(labels={"side": side})
