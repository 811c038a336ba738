"""WorkEndpoints: a work's address as its agent gives it, and the readiness probe that sets its url."""

from __future__ import annotations

import asyncio
import socket

from lightning_ctl.agent.endpoints import WorkEndpoints, address_towards, bind_host, url_of
from lightning_ctl.sdk._events import LaunchWork, WorkEndpoint


def _launch(**vars_) -> LaunchWork:
    return LaunchWork("root.w", 1, "/app.py", {"_host": "127.0.0.1", "_port": None, **vars_})


def test_loopback_binds_the_advertised_address_and_anything_else_is_kept() -> None:
    """A work asking for loopback on an agent advertising 10.0.0.5 binds 10.0.0.5; 0.0.0.0 stays 0.0.0.0."""
    assert bind_host("127.0.0.1", "10.0.0.5") == "10.0.0.5"
    assert bind_host("127.0.0.1", "127.0.0.1") == "127.0.0.1"
    assert bind_host("0.0.0.0", "10.0.0.5") == "0.0.0.0"
    assert url_of("::1", 80) == "http://[::1]:80"


def test_the_address_towards_a_loopback_control_plane_is_loopback() -> None:
    """An agent dialing 127.0.0.1 advertises 127.0.0.1 (no packet is sent to find out)."""
    assert address_towards("127.0.0.1:7000") == "127.0.0.1"


def test_assign_gives_the_process_what_the_flow_is_told() -> None:
    """The launch's vars carry the port, host and internal_ip that the reported endpoint names."""
    reports: list[tuple[str, int, WorkEndpoint]] = []
    endpoints = WorkEndpoints("127.0.0.1", None, lambda *report: reports.append(report))
    launch = endpoints.assign(_launch())
    (name, attempt, endpoint), = reports
    assert (launch.vars["_port"], launch.vars["_host"], launch.vars["_internal_ip"]) == (
        endpoint.port, endpoint.host, endpoint.internal_ip)
    assert endpoint.url == "" and endpoints.target("root.w", 1) == ("127.0.0.1", endpoint.port)
    endpoints.release(("root.w", 1))
    assert endpoints.target("root.w", 1) is None


def test_the_probe_sets_the_url_once_the_port_accepts_connections() -> None:
    """Until something listens there is no url; then the endpoint is reported again with it."""
    async def scenario() -> list[WorkEndpoint]:
        reports: list[WorkEndpoint] = []
        endpoints = WorkEndpoints("127.0.0.1", None, lambda name, attempt, endpoint: reports.append(endpoint))
        launch = endpoints.assign(_launch())
        endpoints.watch(("root.w", 1), "")
        await asyncio.sleep(0.2)
        assert all(not r.url for r in reports) and all(not r.message for r in reports)
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", launch.vars["_port"])
        for _ in range(100):
            if reports[-1].url:
                break
            await asyncio.sleep(0.05)
        server.close()
        endpoints.close()
        return reports

    reports = asyncio.run(scenario())
    assert reports[-1].url == f"http://127.0.0.1:{reports[-1].port}"


def test_a_readiness_path_that_fails_says_why() -> None:
    """A work with a readiness path whose server answers 503 is reported not ready with the status code."""
    async def scenario() -> WorkEndpoint:
        reports: list[WorkEndpoint] = []
        endpoints = WorkEndpoints("127.0.0.1", None, lambda name, attempt, endpoint: reports.append(endpoint))
        launch = endpoints.assign(_launch())

        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", launch.vars["_port"])
        endpoints.watch(("root.w", 1), "/health")
        for _ in range(100):
            if reports[-1].message:
                break
            await asyncio.sleep(0.05)
        server.close()
        endpoints.close()
        return reports[-1]

    last = asyncio.run(scenario())
    assert last.url == "" and last.message == f"not ready: GET /health on port {last.port} answers 503"


def test_adopting_holds_the_recorded_port() -> None:
    """A restarted agent takes back the port its previous self gave an adopted work."""
    endpoints = WorkEndpoints("127.0.0.1", None, lambda *report: None)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoints.adopt(_launch(_port=port, _internal_ip="127.0.0.1"))
    assert endpoints.allocator.port_of(("root.w", 1)) == port
    assert endpoints.target("root.w", 1) == ("127.0.0.1", port)
