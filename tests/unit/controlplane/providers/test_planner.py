"""The planner's decisions, from facts alone (no engine, no sockets)."""

from __future__ import annotations

from lightning_ctl.controlplane.providers.base import AgentSpec, EngineState, EngineStatus
from lightning_ctl.controlplane.providers.manager import waiting_works
from lightning_ctl.controlplane.providers.planner import (
    BACKOFF_FIRST_S,
    SPARE_GRACE_S,
    DeclareLost,
    Planner,
    Presence,
    Release,
    RequestState,
    Submit,
    WaitingWork,
)
from lightning_ctl.sdk._events import GangSpec, LaunchWork, ResourceRequest

GPU = AgentSpec(ResourceRequest(gpus=1, cpus=2))
TWO_GPUS = AgentSpec(ResourceRequest(gpus=2))


def waiting(*names: str, spec: AgentSpec = GPU) -> list[WaitingWork]:
    return [WaitingWork(name, 1, spec) for name in names]


def submits(actions) -> list:  # noqa: ANN001
    return [a.request for a in actions if isinstance(a, Submit)]


def releases(actions) -> list:  # noqa: ANN001
    return [a for a in actions if isinstance(a, Release)]


def joined(request, busy: bool = False, agent: str = "agent-1") -> dict[str, Presence]:  # noqa: ANN001
    return {request.request_id: Presence(frozenset({agent}), busy)}


def planner(**kwargs) -> Planner:  # noqa: ANN003
    return Planner("slurm", kwargs.pop("max_agents", 10), kwargs.pop("idle_timeout_s", 600.0), **kwargs)


def test_a_waiting_work_gets_one_request_for_exactly_its_resources() -> None:
    """A work no agent can take gets a request with its spec, and only one however often the planner runs."""
    p = planner()
    (request,) = submits(p.plan(0.0, waiting("root.w"), {}))
    assert request.spec == GPU and request.work_name == "root.w"
    assert submits(p.plan(1.0, waiting("root.w"), {})) == []
    p.submitted(request.request_id, "42")
    assert submits(p.plan(2.0, waiting("root.w"), {})) == []
    assert p.requests[request.request_id].state == RequestState.QUEUED


def test_at_most_max_agents_requests_are_live() -> None:
    """With --max-agents 2, three waiting works make two requests; the third waits, saying why."""
    p = planner(max_agents=2)
    assert len(submits(p.plan(0.0, waiting("a", "b", "c"), {}))) == 2
    assert "--max-agents" in p.pending_messages()["c"]


def test_an_idle_agent_is_released_after_the_timeout() -> None:
    """A joined agent holding nothing is released once idle_timeout_s has passed, not before."""
    p = planner(idle_timeout_s=60.0)
    (request,) = submits(p.plan(0.0, waiting("w"), {}))
    p.submitted(request.request_id, "1")
    p.plan(1.0, [], joined(request, busy=True))
    assert releases(p.plan(2.0, [], joined(request))) == []
    assert releases(p.plan(61.0, [], joined(request))) == []
    (release,) = releases(p.plan(62.5, [], joined(request)))
    assert "idle for 60.5s" in release.reason and request.state == RequestState.RELEASED


def test_a_busy_agent_is_never_released_for_idleness() -> None:
    """An agent holding a work stays, however long."""
    p = planner(idle_timeout_s=1.0)
    (request,) = submits(p.plan(0.0, waiting("w"), {}))
    p.submitted(request.request_id, "1")
    assert releases(p.plan(1000.0, [], joined(request, busy=True))) == []


def test_an_outstanding_request_moves_to_another_work_with_the_same_needs() -> None:
    """When an agent asked for work A takes work B, A's outstanding request covers B... no new request, no
    cancellation."""
    p = planner()
    first, second = submits(p.plan(0.0, waiting("a", "b"), {}))
    p.submitted(first.request_id, "1")
    p.submitted(second.request_id, "2")
    # second's agent joined and took "a": "b" still waits, covered by first's request
    actions = p.plan(1.0, waiting("b"), joined(second, busy=True))
    assert submits(actions) == [] and releases(actions) == []
    assert first.work_name == "b"


def test_a_request_no_work_needs_is_released_after_a_grace() -> None:
    """A queued request whose work was placed elsewhere is released, after SPARE_GRACE_S (never on a blip)."""
    p = planner()
    (request,) = submits(p.plan(0.0, waiting("w"), {}))
    p.submitted(request.request_id, "1")
    assert releases(p.plan(1.0, [], {})) == []
    (release,) = releases(p.plan(1.0 + SPARE_GRACE_S, [], {}))
    assert "no longer needed" in release.reason


def test_a_refused_request_backs_off_before_asking_again() -> None:
    """The engine refusing a request fails it; the work is asked for again only after the backoff."""
    p = planner()
    (request,) = submits(p.plan(0.0, waiting("w"), {}))
    p.submit_failed(request.request_id, "Requested node configuration is not available", 0.0)
    assert request.state == RequestState.FAILED
    assert submits(p.plan(1.0, waiting("w"), {})) == []
    assert "not available" in p.pending_messages()["w"]
    assert p.next_deadline(1.0) == BACKOFF_FIRST_S
    assert len(submits(p.plan(BACKOFF_FIRST_S, waiting("w"), {}))) == 1


def test_a_job_the_engine_ended_loses_its_agents_works_once_they_are_gone() -> None:
    """A joined job the engine ended (preempted, cancelled) declares its agents lost once they disconnected."""
    p = planner()
    (request,) = submits(p.plan(0.0, waiting("w"), {}))
    p.submitted(request.request_id, "7")
    p.plan(1.0, [], joined(request, busy=True))
    p.observe_engine({request.request_id: EngineStatus(EngineState.GONE, "PREEMPTED")}, 2.0)
    assert [a for a in p.plan(2.0, [], joined(request, busy=True)) if isinstance(a, DeclareLost)] == []
    (lost,) = [a for a in p.plan(3.0, [], {}) if isinstance(a, DeclareLost)]
    assert lost.agent_ids == ("agent-1",) and "PREEMPTED" in request.ended
    assert request.state == RequestState.LOST
    assert [a for a in p.plan(4.0, [], {}) if isinstance(a, DeclareLost)] == []


def test_restored_requests_cover_their_works_and_wait_to_settle() -> None:
    """After a restart, a restored queued request covers its work again (no second request) and is not released
    while the flows have not sent their launches yet."""
    before = planner()
    (request,) = submits(before.plan(0.0, waiting("w"), {}))
    before.submitted(request.request_id, "9")
    after = planner()
    after.restore([request], now=100.0, settle_s=30.0)
    assert after.plan(101.0, [], {}) == []
    assert submits(after.plan(102.0, waiting("w"), {})) == []
    assert releases(after.plan(140.0, [], {})) == []  # the spare grace starts only now
    assert len(releases(after.plan(140.0 + SPARE_GRACE_S, [], {}))) == 1


def test_a_gang_is_one_request_joined_when_all_its_agents_are() -> None:
    """A request of N nodes is one request; it is joined only once N agents are connected."""
    gang = AgentSpec(ResourceRequest(gpus=8), nodes=2)
    p = planner()
    (request,) = submits(p.plan(0.0, waiting("trainer", spec=gang), {}))
    p.submitted(request.request_id, "3")
    p.observe_engine({request.request_id: EngineStatus(EngineState.RUNNING)}, 1.0)
    p.plan(1.0, waiting("trainer", spec=gang), joined(request))
    assert request.state == RequestState.STARTING
    p.plan(2.0, waiting("trainer", spec=gang), {request.request_id: Presence(frozenset({"x", "y"}))})
    assert request.state == RequestState.JOINED


def test_at_capacity_the_longest_idle_agent_makes_room() -> None:
    """With --max-agents reached, an idle agent is released so that a waiting work with other needs gets one."""
    p = planner(max_agents=1)
    (request,) = submits(p.plan(0.0, waiting("a"), {}))
    p.submitted(request.request_id, "1")
    p.plan(1.0, [], joined(request, busy=True))
    actions = p.plan(2.0, waiting("b", spec=TWO_GPUS), joined(request))
    assert [r.request.request_id for r in releases(actions)] == [request.request_id]
    assert [r.spec for r in submits(actions)] == [TWO_GPUS]


def test_a_join_timeout_releases_a_job_whose_agent_never_came() -> None:
    """A job running for join_timeout_s without its agent joining is released and counts as a failure."""
    p = planner(join_timeout_s=100.0)
    (request,) = submits(p.plan(0.0, waiting("w"), {}))
    p.submitted(request.request_id, "5")
    p.observe_engine({request.request_id: EngineStatus(EngineState.RUNNING)}, 1.0)
    (release,) = releases(p.plan(101.0, waiting("w"), {}))
    assert "did not join" in release.reason


def test_a_waiting_gang_is_one_request_of_n_nodes() -> None:
    """The registry's waiting launches of a 3-node gang become ONE waiting entry of 3 nodes, named after the gang,
    standing for its three nodes; a plain work stays one entry of one node."""
    gpu = ResourceRequest(gpus=1)
    launches = [LaunchWork(f"root.mn.ws.{rank}", 2, "/app.py", {}, resources=gpu,
                           gang=GangSpec("root.mn", 3, rank, generation=2)) for rank in range(3)]
    launches.append(LaunchWork("root.solo", 1, "/app.py", {}, resources=gpu))
    waiting, members = waiting_works(launches)
    assert waiting == [WaitingWork("root.mn", 2, AgentSpec(gpu, nodes=3)), WaitingWork("root.solo", 1, AgentSpec(gpu))]
    assert members == {"root.mn": [("root.mn.ws.0", 2), ("root.mn.ws.1", 2), ("root.mn.ws.2", 2)],
                       "root.solo": [("root.solo", 1)]}
