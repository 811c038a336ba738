"""GangCoordinator: the flow runtime's rules for the nodes of a MultiNode, which launch, fail, restart and stop as one.

    node called/started ─► launch tagged (gang, generation): the registry places a generation all at once
    node's call ─► held until node 0 of its generation reported its address ─► sent with main_address/main_port
    node lost (exit, agent lost) ─► the generation ends: the other nodes are stopped, then
        restart policy allows ─► every node launched again (generation + 1), the calls held for the new rendezvous
        otherwise ─► every node's call fails naming the node, its rank and why (the app fails if they raise)
    node's call raised ─► the other nodes are stopped and their calls fail the same way (never restarted)
    node stopped by the flow ─► every node is stopped

A generation is the set of processes placed together; it is recorded in each node's process record
(``WorkProcessState.gang_generation``), so the checkpoint carries it and nothing here holds state of its own.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import structlog

from lightning_ctl.controlplane.flows.stimuli import FailApp, Instruction
from lightning_ctl.controlplane.flows.work_process_state import WorkProcessState
from lightning_ctl.sdk._calls import apply_to_latest, explain_pending, latest_stage, record_pending
from lightning_ctl.sdk._events import GangSpec, LaunchWork, RunCall, StopWork
from lightning_ctl.sdk._gang import MAIN_ADDRESS, MAIN_PORT, RENDEZVOUS_KWARGS, GangMembership, gang_of
from lightning_ctl.sdk._status import WorkStageStatus, WorkStopReasons, make_status
from lightning_ctl.sdk._work import LightningWork

if TYPE_CHECKING:
    from lightning_ctl.controlplane.flows.flow_runtime import FlowRuntime

log = structlog.get_logger(component="gangs")


class GangCoordinator:
    """Applies the gang rules for ``runtime`` (whose process records and commands it shares)."""

    def __init__(self, runtime: FlowRuntime) -> None:
        self._runtime = runtime

    # -- launching ------------------------------------------------------------------------------------------------

    def generation_for(self, membership: GangMembership, work_name: str) -> int:
        """The generation a new process of ``work_name`` joins.

        The current one while it is open and the node has no process in it yet, else the next one.
        """
        current = self._current_generation(membership)
        if current == 0:
            return 1
        own = self._runtime.works.get(work_name)
        if own is not None and own.gang_generation == current:
            return current + 1
        ended = any(record.gang_generation == current and (record.exited or record.stop_requested)
                    for record in self._records(membership))
        return current + 1 if ended else current

    def tag_launch(self, work: LightningWork, launch: LaunchWork, generation: int) -> LaunchWork:
        """``launch`` carrying its gang and generation, for the registry to place the generation at once."""
        membership = gang_of(work)
        assert membership is not None
        spec = GangSpec(membership.gang, membership.size, membership.rank, generation, membership.pack)
        return dataclasses.replace(launch, gang=spec, rendezvous=True)

    # -- calls and the rendezvous ---------------------------------------------------------------------------------

    def send_or_hold(self, work: LightningWork, process: WorkProcessState, call: RunCall) -> list[Instruction]:
        """A node's call goes out once its generation's rendezvous is known; until then it is held."""
        process.held.append(call)
        membership = gang_of(work)
        assert membership is not None
        return self.release_held(membership)

    def release_held(self, membership: GangMembership) -> list[Instruction]:
        """Send the held calls of the gang's current generation if node 0 has reported its address."""
        rendezvous = self._rendezvous(membership)
        if rendezvous is None:
            return []
        address, port = rendezvous
        out: list[Instruction] = []
        for name in membership.nodes:
            process = self._runtime.works.get(name)
            if process is None or not process.held:
                continue
            held, process.held = process.held, []
            for call in held:
                if call.attempt != process.attempt:
                    continue
                sent = dataclasses.replace(call, command_seq=process.next_command_seq(),
                                           kwargs={**call.kwargs, MAIN_ADDRESS: address, MAIN_PORT: port})
                process.unconfirmed.append(sent)
                process.gang_call = sent
                out.append(sent)
        return out

    def _rendezvous(self, membership: GangMembership) -> tuple[str, int] | None:
        """Node 0's address and port in the current generation, once it runs.

        Both come from node 0's agent (its advertised address and a port it allocated there, reported before the
        process starts), so the other nodes reach node 0 across machines.
        """
        first = membership.nodes[0]
        process = self._runtime.works.get(first)
        work = self._runtime.find_work(first)
        if (process is None or work is None or process.exited or process.pid is None
                or process.gang_generation != self._current_generation(membership) or not work.internal_ip
                or work.port is None):
            return None
        return work.internal_ip, work.port

    # -- failures and stops ---------------------------------------------------------------------------------------

    def node_lost(self, work: LightningWork, process: WorkProcessState, message: str, reason: str,
                  cause: str) -> list[Instruction]:
        """A node's process is gone (it exited, or its agent was lost): restart the gang or fail its call."""
        membership = gang_of(work)
        assert membership is not None
        what = f"node {membership.rank} of {membership.size} ({work.name}) was lost: {message}"
        if self._has_succeeded(membership):
            log.info("gang_node_lost_after_success", gang=membership.gang, reason=what, cause=cause)
            return []  # the gang's call is done: nothing to run again, nothing to fail
        # A process taken back from a checkpoint and found gone went with the control plane's machine: the gang
        # starts again whatever its policy, without counting a restart (as a single work does).
        if process.restored or work.restart_policy.allows(process.restarts):
            return self._restart(membership, what, cause, counted=not process.restored)
        return self._fail(membership, work, what, reason, cause, fail_app=work.raise_exception, keep_own=False)

    def node_failed(self, work: LightningWork, process: WorkProcessState, message: str, reason: str,
                    cause: str) -> list[Instruction]:
        """A node's call failed (it raised, or its events broke the rules): stop the others, fail their calls.

        Their calls fail naming it; a failure that is not a lost process is never retried.
        """
        membership = gang_of(work)
        assert membership is not None
        if process.gang_stopped:
            return []
        last_line = (message.strip().splitlines() or ["failed"])[-1]
        what = f"node {membership.rank} of {membership.size} ({work.name}) failed: {last_line}"
        return self._fail(membership, work, what, reason, cause, fail_app=False, keep_own=True)

    def node_stopped(self, work: LightningWork, cause: str) -> list[Instruction]:
        """The flow stopped one node: every node of the gang stops."""
        membership = gang_of(work)
        assert membership is not None
        out: list[Instruction] = []
        reason = f"gang {membership.gang}: node {membership.rank} ({work.name}) was stopped"
        for name in membership.nodes:
            node = self._runtime.find_work(name)
            process = self._runtime.works.get(name)
            if name == work.name or node is None or process is None or process.exited or process.stop_requested:
                continue
            process.stop_requested = True
            apply_to_latest(node, make_status(WorkStageStatus.STOPPED, reason=WorkStopReasons.PENDING.value))
            out.append(StopWork(name, process.attempt, reason, self._runtime.stop_grace_s, cause=cause))
        return out

    def _fail(self, membership: GangMembership, culprit: LightningWork, what: str, reason: str, cause: str,
              fail_app: bool, keep_own: bool) -> list[Instruction]:
        """Stop every node's process of the generation and fail every node's call with ``what``.

        With ``keep_own`` the culprit's call keeps its own failure (it says what happened in its own words).
        """
        message = f"gang {membership.gang} failed: {what}"
        out: list[Instruction] = self._stop_generation(membership, message, cause)
        for name in membership.nodes:
            node = self._runtime.find_work(name)
            process = self._runtime.works.get(name)
            if node is None or process is None:
                continue
            process.held = []
            if name != culprit.name or not keep_own:
                apply_to_latest(node, make_status(WorkStageStatus.FAILED, message=message, reason=reason))
        log.warning("gang_failed", gang=membership.gang, reason=what, cause=cause)
        if fail_app:
            out.append(FailApp(culprit.name, message, cause))
        return out

    def _restart(self, membership: GangMembership, what: str, cause: str, counted: bool) -> list[Instruction]:
        """Stop what is left of the generation and launch every node again in the next, its calls held."""
        out: list[Instruction] = self._stop_generation(membership, f"gang {membership.gang} restarts: {what}", cause)
        generation = self._current_generation(membership) + 1
        for name in membership.nodes:
            node = self._runtime.find_work(name)
            if node is None:
                continue
            calls = self._calls_to_run_again(name)
            successor, launched = self._runtime.new_process(node, start_action=not calls, cause=cause,
                                                            generation=generation)
            successor.restarts += 1 if counted else 0
            for call in calls:
                kwargs = {k: v for k, v in call.kwargs.items() if k not in RENDEZVOUS_KWARGS}
                successor.held.append(dataclasses.replace(call, attempt=successor.attempt, vars={}, kwargs=kwargs,
                                                          cause=cause))
                record_pending(node, call.call_hash)  # the gang's call runs again: no node's part of it is done
                explain_pending(node, f"gang {membership.gang} restarts: {what}")
            out.extend(launched)
        log.warning("gang_restarted", gang=membership.gang, generation=generation, reason=what, cause=cause)
        return out

    def _stop_generation(self, membership: GangMembership, reason: str, cause: str) -> list[Instruction]:
        """Stop each node's process still running (its exit then changes nothing: the gang decided)."""
        stops: list[Instruction] = []
        for name in membership.nodes:
            process = self._runtime.works.get(name)
            if process is None:
                continue
            process.gang_stopped = True
            if not process.exited and not process.stop_requested:
                process.stop_requested = True
                stops.append(StopWork(name, process.attempt, reason, self._runtime.stop_grace_s, cause=cause))
        return stops

    def _calls_to_run_again(self, name: str) -> list[RunCall]:
        """The node's calls of the ending generation: those not finished, and its gang call even if it finished."""
        old = self._runtime.works.get(name)
        if old is None:
            return []
        calls = [*old.calls_to_rerun, *old.held]
        if old.gang_call is not None and all(c.call_hash != old.gang_call.call_hash for c in calls):
            calls.append(old.gang_call)
        return calls

    def _has_succeeded(self, membership: GangMembership) -> bool:
        """Whether every node's latest call succeeded (the gang's call is done)."""
        nodes = [self._runtime.find_work(name) for name in membership.nodes]
        return all(node is not None and latest_stage(node) == WorkStageStatus.SUCCEEDED for node in nodes)

    # -- idleness -------------------------------------------------------------------------------------------------

    def all_idle_past(self, membership: GangMembership, now: float) -> bool:
        """Whether every node's process is idle past its timeout (a gang is stopped for idleness only whole)."""
        for record in self._records(membership):
            if not record.is_idle or record.idle_timeout_s is None or record.idle_since is None:
                return False
            if now - record.idle_since < record.idle_timeout_s:
                return False
        return True

    # -- helpers --------------------------------------------------------------------------------------------------

    def _records(self, membership: GangMembership) -> list[WorkProcessState]:
        return [r for name in membership.nodes if (r := self._runtime.works.get(name)) is not None]

    def _current_generation(self, membership: GangMembership) -> int:
        return max((record.gang_generation for record in self._records(membership)), default=0)
