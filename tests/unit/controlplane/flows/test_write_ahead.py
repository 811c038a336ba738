"""The flow loop's write-ahead rule, with a real checkpoint file: nothing leaves the flow thread (a call, a launch, an
update, an acknowledgement) before the checkpoint that records it is committed.

Each batch handed to the I/O side is checked against what another connection reads from the checkpoint at that
moment: a control plane killed right after the hand-over restarts from a checkpoint that knows the command (and
never numbers another one like it) and holds every event it acknowledged.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from pathlib import Path

import pytest

from lightning_ctl.controlplane.flows.checkpoint import Checkpoint
from lightning_ctl.controlplane.flows.flow_runtime import FlowRuntime
from lightning_ctl.controlplane.flows.loop import AppEnded, FlowLoop, StopRequested
from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk._events import (
    EventsApplied,
    LaunchWork,
    ProcessExited,
    ProcessStarted,
    RunCall,
    StatusChanged,
    UpdateVars,
    VarsChanged,
    WorkEvent,
)
from lightning_ctl.sdk._hashing import call_hash
from lightning_ctl.sdk._runtime import set_runtime
from lightning_ctl.sdk._status import make_status
from tests.helpers import wait_until

TIMEOUT_S = 10.0


class Counter(LightningWork):
    def __init__(self) -> None:
        super().__init__(parallel=False, start_with_flow=False)
        self.count = 0
        self.knob = 0

    def run(self, i: int) -> None:
        self.count += 1


class Calls(LightningFlow):
    """Calls its work with 1, 2, 3 in turn, setting its knob before each call."""

    def __init__(self) -> None:
        super().__init__()
        self.counter = Counter()

    def run(self) -> None:
        for i in (1, 2, 3):
            self.counter.knob = i
            self.counter.run(i)


class Witness:
    """Reads the checkpoint as a restarted control plane would, each time the loop hands something over."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.violations: list[str] = []
        self.sent: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()

    def check(self, batch: list) -> None:
        db = sqlite3.connect(str(self.path))
        try:
            works = {name: json.loads(record) for name, record in db.execute("SELECT name, record FROM works")}
            ledger = dict(db.execute("SELECT component, value FROM state WHERE part = 'calls'"))
        finally:
            db.close()
        for item in batch:
            self.sent.put(item)
            record = works.get(item.work_name)
            if record is None:
                self.violations.append(f"{item!r} sent before its work had a record")
            elif isinstance(item, LaunchWork) and record["attempt"] < item.attempt:
                self.violations.append(f"launch of attempt {item.attempt} sent, checkpoint at {record['attempt']}")
            elif isinstance(item, (RunCall, UpdateVars)) and record["commands_sent"] < item.command_seq:
                self.violations.append(f"command {item.command_seq} sent, checkpoint counts {record['commands_sent']}")
            elif isinstance(item, EventsApplied) and record["applied_seq"] < item.seq:
                self.violations.append(f"events up to {item.seq} acknowledged, checkpoint has {record['applied_seq']}")
            if isinstance(item, RunCall) and item.call_hash not in json.loads(ledger['["works", "counter"]']):
                self.violations.append(f"call {item.call_hash} sent before the ledger recording it")

    def next(self, kind: type):
        while True:
            item = self.sent.get(timeout=TIMEOUT_S)
            if isinstance(item, kind):
                return item


@pytest.fixture
def loop_with_checkpoint(tmp_path):
    checkpoint = Checkpoint(tmp_path / "checkpoint.sqlite")
    checkpoint.begin(pid=1, port=1, resumed=False)
    witness = Witness(tmp_path / "checkpoint.sqlite")
    ended: queue.Queue[AppEnded] = queue.Queue()
    app = LightningApp(Calls())
    runtime = FlowRuntime(app_path="/apps/app.py", env={}, stop_grace_s=1.0)
    loop = FlowLoop(app, runtime, witness.check, ended.put, checkpoint=checkpoint)
    loop.start()
    yield loop, witness
    loop.inbox.put(WorkEvent("root.counter", 1, 0, ProcessExited(4242, 0)))  # nothing to wait for at the end
    loop.inbox.put(StopRequested(0, "test teardown"))
    ended.get(timeout=TIMEOUT_S)
    checkpoint.close()
    set_runtime(None)


def test_every_command_and_acknowledgement_leaves_after_the_checkpoint_recording_it(loop_with_checkpoint):
    """Three calls, their updates, the work's events and their acknowledgements: none is handed over early."""
    loop, witness = loop_with_checkpoint
    seq = 0

    def report(body) -> None:
        nonlocal seq
        seq += 1
        loop.inbox.put(WorkEvent("root.counter", 1, seq, body))

    witness.next(LaunchWork)
    report(ProcessStarted(4242))
    for i in (1, 2, 3):
        call = witness.next(RunCall)
        assert call.call_hash == call_hash((i,), {})
        report(StatusChanged(call.call_hash, make_status("running")))
        report(VarsChanged({"count": i}))
        report(StatusChanged(call.call_hash, make_status("succeeded")))
    wait_until(lambda: any(isinstance(i, EventsApplied) and i.seq == seq for i in _drain(witness)), TIMEOUT_S,
               what="the last events acknowledged")
    assert witness.violations == []


def _drain(witness: Witness) -> list:
    items = []
    while True:
        try:
            items.append(witness.sent.get_nowait())
        except queue.Empty:
            return items
