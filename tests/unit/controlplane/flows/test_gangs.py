"""Tests for controlplane.flows.gangs: the nodes of a MultiNode launch, meet, fail, restart and stop as one.

The flow runtime is driven directly, as in test_flow_runtime: the MultiNode's calls through FlowActions, the
nodes' reports through FlowRuntime.apply. No loop, no agents, no processes.
"""

from __future__ import annotations

import json

import pytest

from lightning_ctl.controlplane.flows.flow_runtime import FlowActions, FlowRuntime
from lightning_ctl.controlplane.flows.stimuli import FailApp, FlowsRan, IdleCheck, Instruction, RunFlows
from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork, RestartPolicy
from lightning_ctl.sdk._events import (
    InvalidEvent,
    LaunchWork,
    ProcessExited,
    ProcessStarted,
    RunCall,
    StatusChanged,
    StopWork,
    WorkEndpoint,
    WorkEvent,
    WorkLost,
)
from lightning_ctl.sdk._runtime import set_runtime
from lightning_ctl.sdk._status import make_status
from lightning_ctl.sdk.components import MultiNode
from lightning_ctl.sdk.errors import CacheMissException

NODES = ("root.mn.ws.0", "root.mn.ws.1", "root.mn.ws.2")


class Node(LightningWork):
    def run(self, main_address: str, main_port: int, num_nodes: int, node_rank: int) -> None:
        """Never runs here: the test plays the nodes' processes."""


class Root(LightningFlow):
    def __init__(self, cloud_compute_idle: float | None = None, **node_kwargs) -> None:
        super().__init__()
        self.mn = MultiNode(Node, 3, CloudCompute("cpu", idle_timeout=cloud_compute_idle), **node_kwargs)

    def run(self) -> None:
        self.mn.run()


class Rig:
    def __init__(self, **node_kwargs) -> None:
        self.runtime = FlowRuntime(app_path="/app.py", env={}, stop_grace_s=5.0)
        self.sent: list[Instruction] = []
        self.failures: list[FailApp] = []
        self.app = LightningApp(Root(**node_kwargs))
        self.runtime.find_work = lambda name: next((w for w in self.app.works if w.name == name), None)
        self.seq: dict[tuple[str, int], int] = {}
        self.now = 100.0

    def tick(self) -> None:
        try:
            self.app.root.run()
        except CacheMissException:
            pass
        self.apply(FlowsRan(tuple(self.app.works)))

    def apply(self, stimulus) -> None:
        out = self.runtime.apply(stimulus)
        self.sent.extend(i for i in out if not isinstance(i, (RunFlows, FailApp)))
        self.failures.extend(i for i in out if isinstance(i, FailApp))

    def take(self, kind: type) -> list:
        taken = [c for c in self.sent if isinstance(c, kind)]
        self.sent[:] = [c for c in self.sent if not isinstance(c, kind)]
        return taken

    def report(self, name: str, attempt: int, body) -> None:
        seq = self.seq.get((name, attempt), 0) + 1
        self.seq[(name, attempt)] = seq
        self.apply(WorkEvent(name, attempt, seq, body))

    def start_node(self, name: str, attempt: int = 1, ip: str = "127.0.0.1") -> None:
        """Its agent says where it runs (address, allocated port), then its process starts."""
        self.report(name, attempt, WorkEndpoint(ip, 30000 + attempt, ip))
        self.report(name, attempt, ProcessStarted(1000 + attempt))

    def node(self, rank: int) -> LightningWork:
        return self.app.root.mn.ws[rank]

    def call_of(self, rank: int) -> str:
        """The hash of node ``rank``'s latest call."""
        return self.node(rank)._calls["latest_call_hash"]


@pytest.fixture
def rig():
    made: list[Rig] = []

    def make(**node_kwargs) -> Rig:
        made.append(Rig(**node_kwargs))
        set_runtime(FlowActions(made[-1].runtime, made[-1].sent.extend))
        return made[-1]

    yield make
    set_runtime(None)


def started_gang(make, **node_kwargs) -> Rig:
    """A gang whose three nodes were called and whose processes all reported in (calls taken)."""
    gang = make(**node_kwargs)
    gang.tick()
    for name in NODES:
        gang.start_node(name)
    gang.take(LaunchWork)
    gang.take(RunCall)
    return gang


class TestLaunch:
    def test_every_node_launches_in_one_generation_tagged_for_the_registry(self, rig) -> None:
        """The MultiNode's first run launches the three nodes, each tagged gang root.mn, rank r, generation 1."""
        gang = rig()
        gang.tick()
        launches = gang.take(LaunchWork)
        assert [(x.work_name, x.gang.name, x.gang.size, x.gang.rank, x.gang.generation) for x in launches] == [
            (name, "root.mn", 3, rank, 1) for rank, name in enumerate(NODES)]
        assert all(x.gang.pack is False for x in launches)

    def test_calls_wait_for_node_zeros_address_then_carry_the_rendezvous(self, rig) -> None:
        """No call leaves before node 0 reported its address; then each carries node 0's address and port."""
        gang = rig()
        gang.tick()
        assert gang.take(RunCall) == []
        gang.start_node(NODES[1], ip="10.0.0.2")
        assert gang.take(RunCall) == []
        gang.start_node(NODES[0], ip="10.0.0.1")
        calls = gang.take(RunCall)
        port = gang.node(0).port
        assert [(c.work_name, c.kwargs) for c in calls] == [
            (name, {"num_nodes": 3, "node_rank": rank, "main_address": "10.0.0.1", "main_port": port})
            for rank, name in enumerate(NODES)]
        assert all(c.command_seq == 1 for c in calls)

    def test_a_new_attempt_forgets_the_old_address(self, rig) -> None:
        """A node's launch resets its internal_ip, so a stale address never becomes the rendezvous."""
        gang = rig()
        gang.node(0).__dict__["_internal_ip"] = "10.9.9.9"
        gang.tick()
        assert gang.node(0).internal_ip == ""
        assert all(x.vars["_internal_ip"] == "" for x in gang.take(LaunchWork))

    def test_node_launches_say_their_port_is_the_rendezvous(self, rig) -> None:
        """Every node's launch tells its agent not to probe its port (a probe would be one more peer at node 0)."""
        gang = rig()
        gang.tick()
        launches = gang.take(LaunchWork)
        assert len(launches) == 3 and all(launch.rendezvous for launch in launches)


class TestFailures:
    def test_a_lost_node_without_restarts_fails_every_nodes_call_naming_it(self, rig) -> None:
        """Node 1's process exits: nodes 0 and 2 are stopped, all three calls fail naming node 1 and its rank."""
        gang = started_gang(rig)
        gang.report(NODES[1], 1, ProcessExited(1001, 3))
        stops = gang.take(StopWork)
        assert sorted(s.work_name for s in stops) == [NODES[0], NODES[2]]
        for rank in range(3):
            status = gang.node(rank).status
            assert status.stage == "failed", status
            assert "node 1 of 3 (root.mn.ws.1) was lost" in status.message and "exited with code 3" in status.message
        assert gang.app.root.mn.has_failed
        [failure] = gang.failures
        assert "gang root.mn failed" in failure.message and "root.mn.ws.1" in failure.message

    def test_stopped_nodes_keep_the_gangs_failure(self, rig) -> None:
        """The other nodes' SIGTERM statuses and exits do not turn the gang's failure into a stop."""
        gang = started_gang(rig, raise_exception=False)
        gang.report(NODES[1], 1, ProcessExited(1001, 3))
        gang.report(NODES[0], 1, StatusChanged("x", make_status("stopped", reason="sigterm_signal_handler")))
        gang.report(NODES[0], 1, ProcessExited(1000, 0))
        assert gang.node(0).status.stage == "failed"
        assert gang.failures == []

    def test_a_lost_node_under_on_failure_restarts_the_whole_gang_at_a_new_rendezvous(self, rig) -> None:
        """Node 2's agent is lost: every node gets attempt 2 in generation 2; the calls are sent again once the new
        node 0 reported its new address, with the same call."""
        gang = started_gang(rig, restart_policy=RestartPolicy.on_failure(max_restarts=1))
        for rank, name in enumerate(NODES):
            gang.report(name, 1, StatusChanged(gang.call_of(rank), make_status("running")))
        gang.apply(WorkLost(NODES[2], 1, "agent c disconnected for 61s"))
        assert sorted(s.work_name for s in gang.take(StopWork)) == [NODES[0], NODES[1]]
        launches = gang.take(LaunchWork)
        assert [(x.work_name, x.attempt, x.gang.generation) for x in launches] == [(n, 2, 2) for n in NODES]
        assert gang.take(RunCall) == []
        for name in NODES:
            gang.start_node(name, attempt=2, ip="10.0.0.7" if name == NODES[0] else "10.0.0.8")
        calls = gang.take(RunCall)
        assert [(c.work_name, c.attempt, c.call_hash, c.kwargs["main_address"]) for c in calls] == [
            (name, 2, gang.call_of(rank), "10.0.0.7") for rank, name in enumerate(NODES)]
        assert gang.failures == []

    def test_a_node_that_finished_in_the_lost_generation_runs_again(self, rig) -> None:
        """Node 0's call succeeded just before node 1 was lost: the new generation runs node 0's call again (pending
        until then, saying why), since the gang's call succeeds only when all nodes' calls do in one generation."""
        gang = started_gang(rig, restart_policy=RestartPolicy.on_failure(max_restarts=1))
        gang.report(NODES[0], 1, StatusChanged(gang.call_of(0), make_status("succeeded")))
        gang.report(NODES[1], 1, ProcessExited(1001, 0, 9))
        assert gang.node(0).status.stage == "pending" and "gang root.mn restarts" in gang.node(0).status.message
        assert not gang.app.root.mn.has_succeeded
        for name in NODES:
            gang.start_node(name, attempt=2)
        assert sorted(c.work_name for c in gang.take(RunCall)) == list(NODES)

    def test_a_node_lost_after_the_gang_succeeded_changes_nothing(self, rig) -> None:
        """Every node succeeded; node 2's process then dies: no restart, no failure."""
        gang = started_gang(rig, restart_policy=RestartPolicy.on_failure(max_restarts=1))
        for rank, name in enumerate(NODES):
            gang.report(name, 1, StatusChanged(gang.call_of(rank), make_status("succeeded")))
        gang.report(NODES[2], 1, ProcessExited(1001, 1))
        assert gang.take(LaunchWork) == [] and gang.failures == []
        assert gang.app.root.mn.has_succeeded

    def test_the_restart_budget_counts_gang_restarts(self, rig) -> None:
        """max_restarts=1: the second loss fails the gang."""
        gang = started_gang(rig, restart_policy=RestartPolicy.on_failure(max_restarts=1))
        gang.report(NODES[0], 1, ProcessExited(1000, 1))
        for name in NODES:
            gang.start_node(name, attempt=2)
        gang.report(NODES[0], 2, ProcessExited(1002, 1))
        assert all(gang.node(rank).status.stage == "failed" for rank in range(3))
        assert len(gang.take(LaunchWork)) == 3, "only the first loss launches again"

    def test_a_node_that_raised_stops_the_others_and_is_never_restarted(self, rig) -> None:
        """Node 0's call fails (user exception) under on_failure: the others stop, their calls fail naming node 0."""
        gang = started_gang(rig, restart_policy=RestartPolicy.on_failure(max_restarts=3), raise_exception=False)
        gang.report(NODES[0], 1, StatusChanged(gang.call_of(0), make_status("failed", message="Traceback...\nValueError: bad",
                                                                  reason="user_exception")))
        assert sorted(s.work_name for s in gang.take(StopWork)) == list(NODES)
        assert gang.take(LaunchWork) == []
        assert "node 0 of 3 (root.mn.ws.0) failed: ValueError: bad" in gang.node(2).status.message
        assert gang.node(0).status.message.startswith("Traceback"), "the node that raised keeps its traceback"


    def test_a_node_whose_events_break_the_rules_ends_its_gang(self, rig) -> None:
        """An InvalidEvent from node 2 stops all three nodes; the others' calls fail naming node 2."""
        gang = started_gang(rig, raise_exception=False)
        gang.report(NODES[2], 1, InvalidEvent("attribute 'x' is not declared"))
        assert sorted(s.work_name for s in gang.take(StopWork)) == list(NODES)
        assert "node 2 of 3 (root.mn.ws.2) failed: attribute 'x' is not declared" in gang.node(0).status.message
        assert gang.node(2).status.reason == "invalid_event"

    def test_a_node_that_gets_no_port_ends_its_gang(self, rig) -> None:
        """Node 1's agent could not give it a port: the nodes are stopped and their calls fail naming node 1."""
        gang = rig(raise_exception=False)
        gang.tick()
        gang.start_node(NODES[0])
        gang.report(NODES[1], 1, WorkEndpoint("", 0, "", error="port 30001 is in use"))
        assert sorted(s.work_name for s in gang.take(StopWork)) == list(NODES)
        message = gang.node(0).status.message
        assert "node 1 of 3 (root.mn.ws.1) failed: work root.mn.ws.1 could not get its port" in message
        assert gang.node(1).status.reason == "port_unavailable"


class TestIdle:
    def test_a_gang_is_stopped_for_idleness_only_whole(self, rig) -> None:
        """idle_timeout=5: nodes 0 and 1 idle past it while node 2 still runs its call: nothing is stopped; once
        node 2 is idle past it too, all three are."""
        gang = rig(cloud_compute_idle=5)
        gang.runtime._clock = lambda: gang.now
        gang.tick()
        for name in NODES:
            gang.start_node(name)
        for rank, name in enumerate(NODES[:2]):
            gang.report(name, 1, StatusChanged(gang.call_of(rank), make_status("succeeded")))
        gang.apply(IdleCheck())
        gang.now += 10
        gang.apply(IdleCheck())
        assert gang.take(StopWork) == []
        gang.report(NODES[2], 1, StatusChanged(gang.call_of(2), make_status("succeeded")))
        gang.apply(IdleCheck())
        gang.now += 10
        gang.apply(IdleCheck())
        assert sorted(s.work_name for s in gang.take(StopWork)) == list(NODES)


class TestStop:
    def test_stopping_the_multinode_stops_every_node(self, rig) -> None:
        """MultiNode.stop(): one StopWork per node."""
        gang = started_gang(rig)
        gang.app.root.mn.stop()
        assert sorted(s.work_name for s in gang.take(StopWork)) == list(NODES)

    def test_stopping_one_node_stops_the_gang(self, rig) -> None:
        """ws[1].stop() stops the three nodes, each shown stopped."""
        gang = started_gang(rig)
        gang.node(1).stop()
        assert sorted(s.work_name for s in gang.take(StopWork)) == list(NODES)
        assert all(gang.node(rank).status.stage == "stopped" for rank in range(3))

    def test_a_gang_that_succeeded_is_stopped_whole(self, rig) -> None:
        """All three calls succeeded: the MultiNode stops its nodes (their machines are freed) and has_succeeded."""
        gang = started_gang(rig)
        for rank, name in enumerate(NODES):
            gang.report(name, 1, StatusChanged(gang.call_of(rank), make_status("succeeded")))
        gang.tick()
        assert sorted(s.work_name for s in gang.take(StopWork)) == list(NODES)
        assert gang.app.root.mn.has_succeeded


class TestCheckpoint:
    def test_a_gangs_records_survive_the_checkpoint(self, rig) -> None:
        """A restarted control plane gets back each node's generation, held calls and gang call: restored records
        release the held calls once node 0 reports, as before the restart."""
        gang = started_gang(rig, restart_policy=RestartPolicy.on_failure(max_restarts=1))
        gang.report(NODES[1], 1, ProcessExited(1001, 0, 9))
        saved = json.loads(json.dumps(gang.runtime.take_changed_records()))
        again = rig(restart_policy=RestartPolicy.on_failure(max_restarts=1))
        again.runtime.restore(saved, again.runtime.find_work)
        assert {name: record.gang_generation for name, record in again.runtime.works.items()} == dict.fromkeys(NODES, 2)
        assert all(len(record.held) == 1 and record.gang_call is None for record in again.runtime.works.values())
        for name in NODES:
            again.start_node(name, attempt=2)
        assert sorted(c.work_name for c in again.take(RunCall)) == list(NODES)
