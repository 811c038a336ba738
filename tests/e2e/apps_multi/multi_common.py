"""Shared by the multi-agent apps (not an app itself): whole-line reports, and a work that reports where it ran."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from lightning_ctl.sdk import LightningWork


def report(tag: str, value: Any) -> None:
    """Print ``<tag> <json value>`` as one whole line (read by ``tests.e2e.reported``)."""
    sys.stdout.write(f"{tag} {json.dumps(value)}\n")
    sys.stdout.flush()


class Probe(LightningWork):
    """A parallel work that records where and how it ran (cwd, CUDA_VISIBLE_DEVICES, pid, times), then holds."""

    def __init__(self, hold_s: float = 0.0, **kwargs: Any) -> None:
        super().__init__(parallel=True, **kwargs)
        self.hold_s = hold_s
        self.facts = {}

    def run(self) -> None:
        facts = {
            "cwd": os.getcwd(),
            "cuda": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "greeting": os.environ.get("MULTI_GREETING"),
            "pid": os.getpid(),
            "started": time.time(),
        }
        print("FACTS " + json.dumps(facts), flush=True)
        time.sleep(self.hold_s)
        facts["ended"] = time.time()
        self.facts = facts
