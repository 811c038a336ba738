"""ServingWorks: the proxy's table of works' servers, as the agents report them."""

from __future__ import annotations

from lightning_ctl.controlplane.agents.serving import ServingWorks, proxy_path
from lightning_ctl.sdk._events import WorkEndpoint

READY = WorkEndpoint("10.0.0.5", 30001, "10.0.0.5", url="http://10.0.0.5:30001")


def test_the_latest_attempt_wins_and_an_exit_forgets_only_its_own() -> None:
    """A report of an older attempt is ignored; the exit of an older attempt leaves the newer one's server."""
    table = ServingWorks()
    table.record("a1", "root.s", 2, READY)
    table.record("a0", "root.s", 1, WorkEndpoint("h", 1, "h"))
    assert table.get("root.s").agent_id == "a1" and table.get("root.s").is_ready
    table.forget("root.s", 1)
    assert table.on_agent_port("a1", 30001).attempt == 2 and table.on_agent_port("a0", 30001) is None
    table.forget("root.s", 2)
    assert table.get("root.s") is None and table.names() == []


def test_a_failed_port_is_no_server() -> None:
    """An endpoint carrying an error (no port given) is not recorded."""
    table = ServingWorks()
    table.record("a", "root.s", 1, WorkEndpoint("", 0, "", error="port 80 is in use"))
    assert table.get("root.s") is None
    assert proxy_path("root.s") == "/works/root.s/"
