"""Shared by the fault apps (not an app itself): whole-line reports and the streaming work.

Knobs come from the environment (``lightning-ctl run --env NAME=VALUE`` reaches the flows and every work):
FAULT_WORKS (streaming works, default 3), FAULT_STEPS (N, default 200), FAULT_STEP_S (pause between steps,
default 0.02), FAULT_RESTART ("never" or "on_failure"), FAULT_CALLS (K blocking calls, default 0), FAULT_STOP_FILE
(when set, a stream goes on past N steps until that file exists, at most FAULT_MAX_STEPS, default 3000: so that it
lasts as long as the faults a test injects, however slow the machine).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from lightning_ctl.sdk import LightningWork, RestartPolicy


def setting(name: str, default: str) -> str:
    """An app knob from the environment."""
    return os.environ.get(name, default)


def say(text: str) -> None:
    """One whole line on stdout, flushed at once."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def report(tag: str, value: Any) -> None:
    """``<tag> <json>`` as one line (read by ``tests.helpers.streams.reported``)."""
    say(f"{tag} {json.dumps(value)}")


def restart_policy() -> RestartPolicy:
    """FAULT_RESTART as a RestartPolicy (on_failure allows 2 restarts)."""
    if setting("FAULT_RESTART", "never") == "on_failure":
        return RestartPolicy.on_failure(max_restarts=2)
    return RestartPolicy.never()


class Streamer(LightningWork):
    """Appends 1, 2, ... to ``items`` (up to ``steps``, or on until FAULT_STOP_FILE exists), one whole-list
    assignment (one event) every FAULT_STEP_S, printing a line per step; ``pids`` lists every process that ran it (a
    restarted work adds its new pid)."""

    def __init__(self) -> None:
        super().__init__(parallel=True, restart_policy=restart_policy())
        self.items: list[int] = []
        self.pids: list[int] = []

    def run(self, steps: int) -> None:
        pid = os.getpid()
        if pid not in self.pids:
            self.pids = self.pids + [pid]
        say(f"PID {pid}")
        pause = float(setting("FAULT_STEP_S", "0.02"))
        stop_file = setting("FAULT_STOP_FILE", "")
        most = int(setting("FAULT_MAX_STEPS", "3000"))
        i = len(self.items)
        while i < most and (i < steps or (stop_file and not os.path.exists(stop_file))):
            i += 1
            self.items = self.items + [i]
            say(f"STEP {i} {pid}")
            time.sleep(pause)


class Counted(LightningWork):
    """A blocking work that does not cache calls: counts its executions in ``executions`` and prints one line per
    execution."""

    def __init__(self) -> None:
        super().__init__(parallel=False, cache_calls=False)
        self.executions = 0

    def run(self) -> None:
        self.executions += 1
        say(f"EXEC {self.executions} {os.getpid()}")
        time.sleep(0.03)
