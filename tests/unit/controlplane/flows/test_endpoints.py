"""The flow runtime applying a work's endpoint as its agent reports it: one truth for host, port, internal_ip and
url; readiness in the status message; a port the agent could not give fails the work."""

from __future__ import annotations

from lightning_ctl.sdk._calls import explain_readiness
from lightning_ctl.sdk._events import ProcessExited, StatusChanged, VarsChanged, WorkEndpoint
from lightning_ctl.sdk._hashing import call_hash
from lightning_ctl.sdk._status import make_status
from tests.unit.controlplane.flows.test_flow_runtime import event, launched, tick

ENDPOINT = WorkEndpoint("10.0.0.5", 30001, "10.0.0.5")


def running(rig, app):  # noqa: ANN001, ANN201 - the rig and the work
    job = launched(rig, app)
    rig.apply_event(event(StatusChanged(call_hash((0,), {}), make_status("running")), seq=2))
    return job


class TestEndpoint:
    def test_the_agents_endpoint_sets_host_port_internal_ip_and_url(self, runtime, make_app):
        """The flow reads what the agent gave: first without url, then with it once ready."""
        app = make_app(parallel=True)
        job = running(runtime, app)
        assert job.port is None and job.internal_ip == ""
        assert runtime.apply_event(event(ENDPOINT, seq=0)) is True
        assert (job.host, job.port, job.internal_ip, job.url) == ("10.0.0.5", 30001, "10.0.0.5", "")
        ready = WorkEndpoint("10.0.0.5", 30001, "10.0.0.5", url="http://10.0.0.5:30001")
        assert runtime.apply_event(event(ready, seq=0)) is True
        assert job.url == "http://10.0.0.5:30001"
        assert runtime.apply_event(event(ready, seq=0)) is False, "the same report again changes nothing"

    def test_the_work_cannot_move_its_own_address(self, runtime, make_app):
        """A delta of the work naming _port/_host/_internal_ip is ignored: its agent's report is the truth."""
        app = make_app(parallel=True)
        job = running(runtime, app)
        runtime.apply_event(event(ENDPOINT, seq=0))
        runtime.apply_event(event(VarsChanged({"_port": 1, "_host": "x", "_internal_ip": "y", "count": 3}), seq=3))
        assert (job.port, job.host, job.internal_ip, job.count) == (30001, "10.0.0.5", "10.0.0.5", 3)

    def test_not_ready_is_said_in_the_running_status_and_cleared_once_ready(self, runtime, make_app):
        """A readiness message lands in the running status (even when it came before it) and goes once ready."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        runtime.apply_event(event(WorkEndpoint("h", 1, "h", message="not ready: GET /health answers 503"), seq=0))
        runtime.apply_event(event(StatusChanged(call_hash((0,), {}), make_status("running")), seq=2))
        assert job.status.message == "not ready: GET /health answers 503"
        runtime.apply_event(event(WorkEndpoint("h", 1, "h", url="http://h:1"), seq=0))
        assert job.status.message is None and job.url == "http://h:1"

    def test_an_exit_clears_the_url(self, runtime, make_app):
        """The server goes with its process: url is "" again."""
        app = make_app(parallel=True, raise_exception=False)
        job = running(runtime, app)
        runtime.apply_event(event(WorkEndpoint("h", 1, "h", url="http://h:1"), seq=0))
        runtime.apply_event(event(ProcessExited(4242, 1), seq=0))
        assert job.url == ""

    def test_a_port_the_agent_could_not_give_fails_the_work(self, runtime, make_app):
        """An endpoint error fails the work with port_unavailable (and the app when it raises exceptions)."""
        app = make_app(parallel=True)
        job = launched(runtime, app)
        runtime.apply_event(event(WorkEndpoint("", 0, "", error="port 80 is in use on this machine"), seq=0))
        assert job.has_failed and job.status.reason == "port_unavailable"
        assert "port 80 is in use" in job.status.message
        assert runtime.failure is not None and "could not get its port" in runtime.failure.message
        tick(app)

    def test_the_explicit_port_travels_in_the_launch(self, runtime, make_app):
        """port= is what the launch asks of the agent, with the work's readiness path."""
        app = make_app(parallel=True, port=8123)
        tick(app)
        launch = runtime.take_commands()[0]
        assert launch.port == 8123 and launch.vars["_port"] == 8123


def test_a_readiness_message_never_replaces_another_message() -> None:
    """explain_readiness leaves a status message it did not write alone."""
    from lightning_ctl.sdk.testing import EmptyWork

    work = EmptyWork()
    work._calls.update({"h": {"statuses": [make_status("running", message="loading weights")]},
                        "latest_call_hash": "h"})
    assert explain_readiness(work, "not ready: x") is False
    assert work.status.message == "loading weights"
