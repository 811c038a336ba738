"""The bad-input matrix of the agent's stream: every case against one real control plane, judged by how it ended.

One ``lightning-ctl run`` (bad_inputs.py, ``--max-attribute-size 64Ki``) serves a real agent running ``root.good``
and a hand-written agent (``tests.helpers.rogue``) on which each target work ``root.w<i>`` is placed. Each case
sends one bad input; the table below says how it must end:

    fails work    the event's own work fails (status failed, reason invalid_event, a message naming the work, the
                  attribute or field, and the cause); EventRejected INVALID_ARGUMENT reaches the agent; the
                  event is acknowledged (never sent again); the agent's stream and every other work carry on
    rejected      dropped with an EventRejected (PERMISSION_DENIED for another agent's work); nothing changes
    ignored       dropped silently (a sequence number past the window): no memory kept for it
    stream ends   the stream (or call) ends with the gRPC status given, its details naming the problem; the
                  control plane and its other streams carry on

Every case ends as a clear error or contained; none crashes the control plane or loses anything. The cases are
the rows of ``EVENT_CASES`` and ``STREAM_CASES`` (their ids are the table's first column).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import grpc
import psutil
import pytest

from lightning_ctl.controlplane.api.client import AppClient, Target
from lightning_ctl.protos.lightning.v1 import agent_pb2, agent_pb2_grpc, app_pb2, app_pb2_grpc, events_pb2
from lightning_ctl.protos.transport import PROTOCOL_VERSION
from tests.helpers import wait_until
from tests.helpers.agents import Cluster, ControlPlane
from tests.helpers.rogue import RogueAgent, event, register_message

APPS = Path(__file__).resolve().parent / "apps_multi"
LIMIT = 64 * 1024
ROGUE_LABELS = {"role": "rogue"}


def delta(**values: str) -> dict[str, Any]:
    """The ``delta`` kind of an event, from attribute -> JSON text."""
    return {"delta": events_pb2.VarsDelta(values=values)}


def status(**fields: Any) -> dict[str, Any]:
    """The ``status`` kind of an event."""
    return {"status": events_pb2.StatusChange(**{"call_hash": "h", "stage": "running", "timestamp": 1.0, **fields})}


@dataclass(frozen=True)
class EventCase:
    """One bad work event, sent for the case's own target work (``{work}`` in ``event_args``)."""

    id: str
    seq: int
    kind: dict[str, Any]
    ending: str
    """"fails work", "rejected" or "ignored"."""
    expect: str = ""
    """A piece of the failure message (or the rejection's)."""
    work: str = ""
    """Another work to send it for ("" for the case's own target)."""
    attempt: int = 1
    first_seq: int = 0


EVENT_CASES = [
    EventCase("delta-sets-_calls", 1, delta(_calls="{}"), "fails work",
              "attribute _calls: private attributes never leave the work's process"),
    EventCase("delta-sets-private-name", 1, delta(_secret="1"), "fails work", "attribute _secret: private"),
    EventCase("delta-sets-undeclared-attribute", 1, delta(undeclared="1"), "fails work",
              "attribute undeclared: not declared in the work's __init__"),
    EventCase("delta-invalid-json", 1, delta(value="{nope"), "fails work",
              "attribute value: its value is not valid JSON"),
    EventCase("delta-json-nested-too-deeply", 1, delta(value="[" * 5000 + "]" * 5000), "fails work",
              "attribute value: its value is not valid JSON (nested too deeply)"),
    EventCase("delta-bad-attribute-name", 1, {"delta": events_pb2.VarsDelta(values={"no such-name": "1"})},
              "fails work", "'no such-name': not a valid attribute name"),
    EventCase("delta-value-over-limit", 1, delta(text='"' + "x" * LIMIT + '"'), "fails work",
              f"attribute text: a value of {LIMIT + 2} bytes, over the limit of {LIMIT} bytes"),
    EventCase("seq-zero", 0, delta(value="1"), "fails work", "delta event with seq 0; a work process numbers"),
    EventCase("seq-negative", -5, delta(value="1"), "fails work", "delta event with seq -5"),
    EventCase("first-seq-after-seq", 1, delta(value="1"), "fails work", "covers first_seq 5, outside 0..1",
              first_seq=5),
    EventCase("status-unknown-stage", 1, status(stage="exploded"), "fails work", "status.stage: unknown stage"),
    EventCase("status-without-call-hash", 1, status(call_hash=""), "fails work", "status.call_hash: missing"),
    EventCase("status-message-over-1MiB", 1, status(stage="failed", message="x" * (2**20 + 1)), "fails work",
              "status.message: 1048577 characters, over the limit"),
    EventCase("status-nan-timestamp", 1, status(timestamp=math.nan), "fails work", "status.timestamp"),
    EventCase("started-pid-zero", 1, {"started": events_pb2.WorkStarted(pid=0)}, "fails work",
              "started.pid: must be > 0"),
    EventCase("event-without-kind", 1, {}, "fails work", "has no kind"),
    EventCase("output-with-a-seq", 3, {"logs": events_pb2.LogLines(stream=1, lines=["x"])}, "rejected",
              "logs event with seq 3"),
    EventCase("output-backwards-offsets", 0, {"logs": events_pb2.LogLines(stream=1, offset=10, end_offset=5)},
              "rejected", "offsets 10..5 are not a byte range"),
    EventCase("exit-signal-999", 0, {"exit": events_pb2.ProcessExit(pid=1, signal=999)}, "rejected",
              "signal 999 out of range"),
    EventCase("event-for-another-agents-work", 1, delta(runs="99"), "rejected",
              "is placed on agent", work="root.good"),
    EventCase("event-for-an-unknown-work", 1, delta(value="1"), "rejected", "not placed on any agent",
              work="root.nope"),
    EventCase("event-for-another-attempt", 1, delta(value="1"), "rejected", "attempt 7 is not placed", attempt=7),
    EventCase("event-without-work-name", 1, delta(value="1"), "rejected", "work_event.work_name: missing",
              work="-"),
    EventCase("event-attempt-zero", 1, delta(value="1"), "rejected", "must be >= 1, got 0", attempt=0),
]


@dataclass
class Matrix:
    """The running app, its agents, and a target work per case."""

    cluster: Cluster
    cp: ControlPlane
    rogue: RogueAgent
    targets: dict[str, str] = field(default_factory=dict)
    """Case id -> the target work it may fail."""

    def client(self, token: str | None = None) -> AppClient:
        return AppClient(Target(self.cp.loopback_address, token or self.cluster.token))

    def works(self) -> dict[str, Any]:
        async def read() -> Any:
            async with self.client() as client:
                return await client.status()

        return {w.work_name: w for w in asyncio.run(read()).works}


TARGET_CASES = [case.id for case in EVENT_CASES if not case.work] + ["far-future-seqs"]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    """The control plane, the real agent (running root.good) and the hand-written agent with every target placed."""
    cluster = Cluster(tmp_path_factory.mktemp("bad-inputs"))
    try:
        cp = cluster.control_plane(APPS / "bad_inputs.py", "--max-attribute-size", "64Ki",
                                   env={"BAD_TARGETS": str(len(TARGET_CASES))})
        cluster.agent("good", "--gpus", "none", "--cpus", "4", "--labels", "role=good")
        cp.wait_for_line("GOOD", timeout_s=30)
        rogue = RogueAgent(cp.loopback_address, cluster.join_token)
        rogue.register(labels=ROGUE_LABELS, resources=agent_pb2.Resources(cpus=64, memory_bytes=2**40))
        targets = {case: f"root.w{index}" for index, case in enumerate(TARGET_CASES)}
        for work in targets.values():
            rogue.wait_for_launch(work)
        yield Matrix(cluster, cp, rogue, targets)
    finally:
        cluster.close()


def good_runs(matrix: Matrix) -> int:
    """How many times root.good has run so far (it keeps running while the app lives)."""
    return len(matrix.cp.lines_with("GOOD", "stdout"))


@pytest.mark.e2e
@pytest.mark.parametrize("case", EVENT_CASES, ids=[case.id for case in EVENT_CASES])
def test_bad_event(matrix: Matrix, case: EventCase) -> None:
    """Each bad work event ends as its row of the table says, and nothing else is touched."""
    work = case.work or matrix.targets[case.id]
    name = "" if work == "-" else work
    rejected_before = len(matrix.rogue.rejections())
    runs_before = good_runs(matrix)
    pb = event(name, case.attempt, case.seq, case.first_seq, **case.kind)
    matrix.rogue.send_events(pb)
    rejection = wait_until(lambda: next(iter(matrix.rogue.rejections()[rejected_before:]), None), 20,
                           what=f"the rejection of {case.id}")
    assert case.expect in rejection.message, rejection
    if case.ending == "fails work":
        assert rejection.code == "INVALID_ARGUMENT", rejection
        view = wait_until(lambda: (w := matrix.works()[work]).stage == "failed" and w, 20,
                          what=f"{work} to fail")
        assert view.reason == "invalid_event" and case.expect in view.message and work in view.message, view
        if case.seq > 0 and case.first_seq <= case.seq:  # a valid seq: the refusal takes its place, acknowledged
            wait_until(lambda: any(seq >= case.seq for seq in matrix.rogue.acks(work)), 20,
                       what=f"the refused event of {work} to be acknowledged")
        stop = wait_until(lambda: next((c.stop for c in matrix.rogue.commands() if c.WhichOneof("kind") == "stop"
                                        and c.stop.work_name == work), None), 20, what=f"{work} to be stopped")
        assert case.expect in stop.reason
    else:
        code = "PERMISSION_DENIED" if "placed" in case.expect else "INVALID_ARGUMENT"
        assert rejection.code == code, rejection
        if case.id not in matrix.targets:
            return
        assert matrix.works()[work].stage != "failed"
    assert not matrix.rogue.closed.is_set(), f"the stream ended: {matrix.rogue.code} {matrix.rogue.details}"
    wait_until(lambda: good_runs(matrix) > runs_before, 30, what="root.good to run again")
    others = {n: w.stage for n, w in matrix.works().items() if n not in (work, "root.good")
              and n.startswith("root.w") and not _failed_by_its_case(matrix, n)}
    assert all(stage != "failed" for stage in others.values()), others


def _failed_by_its_case(matrix: Matrix, work: str) -> bool:
    case_id = next(case for case, target in matrix.targets.items() if target == work)
    return any(case.id == case_id and case.ending == "fails work" for case in EVENT_CASES)


@pytest.mark.e2e
def test_200k_far_future_events_keep_no_memory(matrix: Matrix) -> None:
    """200,000 events numbered far past the next one are dropped (a window, not a buffer): the control plane's
    memory does not grow by them, and the work's next event in order is applied as usual."""
    work = matrix.targets["far-future-seqs"]
    process = psutil.Process(matrix.cp.pid)
    before = process.memory_info().rss
    for start in range(0, 200_000, 2000):
        matrix.rogue.send_events(*(event(work, 1, 10_000 + start + i, **delta(value=str(start + i)))
                                   for i in range(2000)))
    matrix.rogue.send_events(event(work, 1, 1, **delta(value="7")))
    wait_until(lambda: 1 in matrix.rogue.acks(work), 60, what="the in-order event to be acknowledged")
    grown_mib = (process.memory_info().rss - before) / 2**20
    assert grown_mib < 40, f"the control plane grew by {grown_mib:.0f} MiB"
    assert matrix.works()[work].stage != "failed"
    assert not matrix.rogue.closed.is_set()


# -- the stream and the calls themselves ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamCase:
    """One bad stream: what it sends (after any registration given), and the status it must end with."""

    id: str
    messages: Callable[[Matrix], list[agent_pb2.AgentMessage]]
    code: grpc.StatusCode
    expect: str
    credential: Callable[[Matrix], str] = lambda m: m.cluster.join_token


def _labels(count: int) -> dict[str, str]:
    return {f"k{i}": "v" for i in range(count)}


def _registered(**fields: Any) -> Callable[[Matrix], list[agent_pb2.AgentMessage]]:
    return lambda m: [register_message(agent_id=f"bad-{time.monotonic_ns()}", **fields)]


STREAM_CASES = [
    StreamCase("first-message-not-register", lambda m: [agent_pb2.AgentMessage(heartbeat=agent_pb2.Heartbeat())],
               grpc.StatusCode.INVALID_ARGUMENT, "the first message of a stream must be register"),
    StreamCase("register-without-agent-id", lambda m: [register_message(agent_id="")],
               grpc.StatusCode.INVALID_ARGUMENT, "register.agent_id: missing"),
    StreamCase("agent-id-with-a-path", lambda m: [register_message(agent_id="../../etc/passwd")],
               grpc.StatusCode.INVALID_ARGUMENT, "is not an agent id"),
    StreamCase("agent-id-of-1MB", lambda m: [register_message(agent_id="a" * 2**20)],
               grpc.StatusCode.INVALID_ARGUMENT, "register.agent_id: 1048576 characters, over the limit of 128"),
    StreamCase("another-protocol-version", _registered(protocol_version=1), grpc.StatusCode.FAILED_PRECONDITION,
               f"speaks protocol version 1; this control plane speaks version {PROTOCOL_VERSION}"),
    StreamCase("cpus-minus-5", _registered(resources=agent_pb2.Resources(cpus=-5)),
               grpc.StatusCode.INVALID_ARGUMENT, "register.resources.cpus: must be a finite number >= 0, got -5"),
    StreamCase("cpus-nan", _registered(resources=agent_pb2.Resources(cpus=math.nan)),
               grpc.StatusCode.INVALID_ARGUMENT, "register.resources.cpus"),
    StreamCase("memory-negative", _registered(resources=agent_pb2.Resources(cpus=1, memory_bytes=-1)),
               grpc.StatusCode.INVALID_ARGUMENT, "register.resources.memory_bytes: must be >= 0"),
    StreamCase("20000-labels", _registered(labels=_labels(20_000)), grpc.StatusCode.INVALID_ARGUMENT,
               "register.labels: 20000 labels, over the limit of 256"),
    StreamCase("label-of-2KiB", _registered(labels={"k": "v" * 2048}), grpc.StatusCode.INVALID_ARGUMENT,
               "over the limit of 1024"),
    StreamCase("gpu-index-twice", _registered(resources=agent_pb2.Resources(
        cpus=1, gpus=[agent_pb2.GpuDevice(index=0), agent_pb2.GpuDevice(index=0)])),
        grpc.StatusCode.INVALID_ARGUMENT, "an index appears twice"),
    StreamCase("gpu-index-negative", _registered(resources=agent_pb2.Resources(
        cpus=1, gpus=[agent_pb2.GpuDevice(index=-1)])), grpc.StatusCode.INVALID_ARGUMENT,
        "register.resources.gpus.index: must be >= 0"),
    StreamCase("running-attempt-zero", _registered(running=[agent_pb2.RunningWork(work_name="root.good")]),
               grpc.StatusCode.INVALID_ARGUMENT, "register.running[root.good].attempt: must be >= 1"),
    StreamCase("second-register", lambda m: [*_registered()(m), *_registered()(m)],
               grpc.StatusCode.INVALID_ARGUMENT, "register may only be the first message of a stream"),
    StreamCase("heartbeat-gpu-utilization-nan", lambda m: [*_registered()(m), agent_pb2.AgentMessage(
        heartbeat=agent_pb2.Heartbeat(gpus=[agent_pb2.GpuUsage(index=1, utilization_percent=math.nan)]))],
        grpc.StatusCode.INVALID_ARGUMENT, "heartbeat.gpus[1].utilization_percent: must be a finite number"),
    StreamCase("message-without-kind", lambda m: [*_registered()(m), agent_pb2.AgentMessage()],
               grpc.StatusCode.INVALID_ARGUMENT, "an agent message with no kind"),
    StreamCase("claims-to-be-the-local-agent", _registered(is_local=True), grpc.StatusCode.PERMISSION_DENIED,
               "only lightning-ctl's own local agent may register as local"),
    StreamCase("operator-token-as-agent", _registered(), grpc.StatusCode.PERMISSION_DENIED,
               "the operator's token cannot act as an agent", credential=lambda m: m.cluster.token),
    StreamCase("unknown-token", _registered(), grpc.StatusCode.UNAUTHENTICATED, "unknown token",
               credential=lambda m: "not-a-token"),
    StreamCase("no-credential", _registered(), grpc.StatusCode.UNAUTHENTICATED, "no credential",
               credential=lambda m: ""),
    StreamCase("join-as-an-agent-that-joined", lambda m: [register_message(agent_id="rogue-agent")],
               grpc.StatusCode.PERMISSION_DENIED, "agent id rogue-agent already belongs to agent rogue"),
]


@pytest.mark.e2e
@pytest.mark.parametrize("case", STREAM_CASES, ids=[case.id for case in STREAM_CASES])
def test_bad_stream(matrix: Matrix, case: StreamCase) -> None:
    """A malformed or unauthorised stream ends with a status naming the problem, never OK; the app and the other
    streams carry on."""
    stream = RogueAgent(matrix.cp.loopback_address, case.credential(matrix))
    try:
        for message in case.messages(matrix):
            stream.send(message)
        code, details = stream.wait_closed()
    finally:
        stream.close()
    assert code == case.code and case.expect in details, (code, details)
    assert not matrix.rogue.closed.is_set() and matrix.cp.proc.poll() is None
    assert "root.good" in matrix.works()


# -- credentials, one rule at a time --------------------------------------------------------------------------------


def _operator_stub(matrix: Matrix, token: str) -> tuple[app_pb2_grpc.AppServiceStub, tuple, grpc.Channel]:
    channel = grpc.insecure_channel(matrix.cp.loopback_address)
    return app_pb2_grpc.AppServiceStub(channel), (("authorization", f"Bearer {token}"),), channel


def _issue(matrix: Matrix, **request: Any) -> app_pb2.JoinToken:
    stub, metadata, channel = _operator_stub(matrix, matrix.cluster.token)
    with channel:
        return stub.IssueJoinToken(app_pb2.IssueJoinTokenRequest(**request), metadata=metadata, timeout=10)


def _joined(matrix: Matrix, agent_id: str) -> tuple[RogueAgent, str]:
    """A new agent joined with a fresh one-time token; its stream and its credential."""
    token = _issue(matrix).token
    agent = RogueAgent(matrix.cp.loopback_address, token)
    welcome = agent.register(agent_id=agent_id, name=agent_id)
    assert welcome.agent_credential.startswith("lctl-agent.")
    return agent, welcome.agent_credential


@pytest.mark.e2e
def test_one_time_join_token_registers_one_agent(matrix: Matrix) -> None:
    """A one-time join token registers one agent; the second agent presenting it is refused (UNAUTHENTICATED)."""
    token = _issue(matrix, uses=1).token
    first = RogueAgent(matrix.cp.loopback_address, token)
    second = RogueAgent(matrix.cp.loopback_address, token)
    try:
        first.register(agent_id="once-a", name="once-a")
        second.send(register_message(agent_id="once-b", name="once-b"))
        code, details = second.wait_closed()
        assert code == grpc.StatusCode.UNAUTHENTICATED and "was already used" in details, (code, details)
    finally:
        first.close()
        second.close()


@pytest.mark.e2e
def test_expired_join_token_is_refused(matrix: Matrix) -> None:
    """A join token past its ttl is refused, saying it expired."""
    issued = _issue(matrix, ttl_s=0.2)
    wait_until(lambda: time.time() > issued.expires_at + 0.05, 5, what="the token to expire")
    late = RogueAgent(matrix.cp.loopback_address, issued.token)
    try:
        late.send(register_message(agent_id="late", name="late"))
        code, details = late.wait_closed()
    finally:
        late.close()
    assert code == grpc.StatusCode.UNAUTHENTICATED and f"join token {issued.token_id} expired" in details


@pytest.mark.e2e
def test_agent_credential_cannot_register_another_identity(matrix: Matrix) -> None:
    """An agent credential registers only its own agent_id: used for another, the stream is refused."""
    agent, credential = _joined(matrix, "honest")
    agent.close()
    thief = RogueAgent(matrix.cp.loopback_address, credential)
    try:
        thief.send(register_message(agent_id="rogue-agent", name="rogue"))
        code, details = thief.wait_closed()
    finally:
        thief.close()
    assert code == grpc.StatusCode.PERMISSION_DENIED and "belongs to agent honest, not rogue-agent" in details


@pytest.mark.e2e
def test_agent_credential_and_join_token_cannot_operate_the_app(matrix: Matrix) -> None:
    """The app's service refuses an agent credential and a join token (PERMISSION_DENIED); FetchBundle refuses a
    join token."""
    agent, credential = _joined(matrix, "curious")
    agent.close()
    for token in (credential, matrix.cluster.join_token):
        stub, metadata, channel = _operator_stub(matrix, token)
        with channel, pytest.raises(grpc.RpcError) as caught:
            stub.GetStatus(app_pb2.GetStatusRequest(), metadata=metadata, timeout=10)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with grpc.insecure_channel(matrix.cp.loopback_address) as channel, pytest.raises(grpc.RpcError) as caught:
        chunks = agent_pb2_grpc.AgentServiceStub(channel).FetchBundle(
            agent_pb2.FetchBundleRequest(digest="0" * 64),
            metadata=(("authorization", f"Bearer {matrix.cluster.join_token}"),), timeout=10)
        list(chunks)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "only registers a new agent" in caught.value.details()


@pytest.mark.e2e
def test_claims_of_works_placed_elsewhere_are_refused(matrix: Matrix) -> None:
    """An agent that says it runs another agent's work is not believed: it is told to stop that process, and the
    work keeps its placement and carries on."""
    runs_before = good_runs(matrix)
    agent, credential = _joined(matrix, "claimer")
    agent.close()
    claimer = RogueAgent(matrix.cp.loopback_address, credential)
    try:
        claimer.register(agent_id="claimer", name="claimer",
                         running=[agent_pb2.RunningWork(work_name="root.good", attempt=1, pid=1)])
        stop = wait_until(lambda: next((c.stop for c in claimer.commands() if c.WhichOneof("kind") == "stop"),
                                       None), 15, what="the stop of the false claim")
        assert stop.work_name == "root.good" and "not placed on this agent" in stop.reason
        assert matrix.works()["root.good"].agent_name == "good"
        wait_until(lambda: good_runs(matrix) > runs_before, 30, what="root.good to run again")
    finally:
        claimer.close()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("request_fields", "expect"),
    [({"tail": -5}, "tail: must be >= 0, got -5"), ({"since": math.nan}, "since: must be an epoch second")],
    ids=["tail-minus-5", "since-nan"],
)
def test_bad_log_requests_name_the_field(matrix: Matrix, request_fields: dict[str, Any], expect: str) -> None:
    """StreamLogs with a negative tail or a NaN since ends INVALID_ARGUMENT naming the field."""
    stub, metadata, channel = _operator_stub(matrix, matrix.cluster.token)
    with channel, pytest.raises(grpc.RpcError) as caught:
        list(stub.StreamLogs(app_pb2.StreamLogsRequest(**request_fields), metadata=metadata, timeout=10))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and expect in caught.value.details()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("request_fields", "expect"),
    [({"uses": -1}, "uses: must be >= 1"), ({"ttl_s": math.inf}, "ttl_s: must be a positive number"),
     ({"labels": _labels(300)}, "labels: 300 labels, over the limit of 256")],
    ids=["uses-minus-1", "ttl-infinite", "300-labels"],
)
def test_bad_join_token_requests_name_the_field(matrix: Matrix, request_fields: dict[str, Any], expect: str) -> None:
    """IssueJoinToken with a negative use count, an infinite ttl or too many labels ends INVALID_ARGUMENT."""
    with pytest.raises(grpc.RpcError) as caught:
        _issue(matrix, **request_fields)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and expect in caught.value.details()


@pytest.mark.e2e
def test_message_over_the_receive_limit_is_refused_by_size(matrix: Matrix) -> None:
    """A message larger than the server accepts ends the stream RESOURCE_EXHAUSTED, naming both sizes."""
    agent, credential = _joined(matrix, "oversized")
    try:
        agent.send_events(event("root.w0", 1, 1, **delta(text='"' + "x" * 70 * 2**20 + '"')))
        code, details = agent.wait_closed(30)
    finally:
        agent.close()
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in details, (code, details)
