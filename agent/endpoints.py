"""WorkEndpoints: each work's address on this agent (host, port, internal_ip) and whether its server is ready.

    launch ─► assign: a port (PortAllocator), the host its server binds, the agent's advertised address
           ─► WorkEndpoint reported (before the process starts; the process gets the same values in its init)
    process up ─► watch: connect to the port (or GET the work's readiness path) until it answers
           ─► WorkEndpoint with url = http://<internal_ip>:<port>
    process exited ─► release: the port goes back

A work asking to bind loopback (the default ``host``) on an agent that advertises another address binds that
address instead: a server only its own machine can reach would defeat ``url``. Any other host it asked for (such
as ``0.0.0.0``) is kept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import http.client
import socket
from typing import Callable

import structlog

from lightning_ctl.agent.ports import PortAllocator, PortRange, WorkKey
from lightning_ctl.sdk._events import LaunchWork, WorkEndpoint

log = structlog.get_logger(component="endpoints")

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_ANY_HOSTS = frozenset({"0.0.0.0", "::", ""})
_FIRST_PROBE_DELAY_S = 0.05
_MAX_PROBE_DELAY_S = 1.0
_PROBE_TIMEOUT_S = 2.0


def url_of(address: str, port: int) -> str:
    """``http://address:port`` (an IPv6 address in brackets)."""
    return f"http://[{address}]:{port}" if ":" in address else f"http://{address}:{port}"


def address_towards(address: str) -> str:
    """The address of this machine that ``address`` (the control plane's HOST:PORT) is reached from.

    What other machines of its network reach this one at. No packet is sent (a UDP socket's connect only picks a route).
    """
    host, _, port = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(host, int(port or 0), type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect(sockaddr)
            return str(sock.getsockname()[0])
    except (OSError, ValueError, IndexError):
        return "127.0.0.1"


def bind_host(requested: str, advertise_address: str) -> str:
    """The host a work's server binds.

    The advertised address instead of loopback when the agent advertises another one, else what the work asked for.
    """
    if requested in LOOPBACK_HOSTS and advertise_address not in LOOPBACK_HOSTS:
        return advertise_address
    return requested or "127.0.0.1"


def connect_host(host: str) -> str:
    """Where this machine reaches a server bound to ``host``."""
    return "127.0.0.1" if host in _ANY_HOSTS else host


class WorkEndpoints:
    """The endpoints of the works of this agent; reports each change through ``report(work, attempt, endpoint)``."""

    def __init__(self, advertise_address: str, ports: PortRange | None,
                 report: Callable[[str, int, WorkEndpoint], None]) -> None:
        self.advertise_address = advertise_address
        self.allocator = PortAllocator(ports)
        self.current: dict[WorkKey, WorkEndpoint] = {}
        self._report = report
        self._watchers: dict[WorkKey, asyncio.Task[None]] = {}

    def assign(self, launch: LaunchWork) -> LaunchWork:
        """Give the work of ``launch`` its port and address.

        The launch its process starts with (the flow's view of its attributes carrying them).

        Raises:
        PortUnavailableError: the port it asked for is in use, or no port of the range is free.
        """
        key = (launch.work_name, launch.attempt)
        previous = launch.vars.get("_port")
        port = self.allocator.allocate(key, launch.port, previous if isinstance(previous, int) else 0)
        host = bind_host(str(launch.vars.get("_host") or ""), self.advertise_address)
        endpoint = WorkEndpoint(host, port, self.advertise_address)
        self._set(key, endpoint)
        log.info("work_port_assigned", work_name=key[0], attempt=key[1], host=host, port=port,
                 internal_ip=self.advertise_address)
        return dataclasses.replace(launch, vars={**launch.vars, "_host": host, "_port": port,
                                                 "_internal_ip": self.advertise_address})

    def adopt(self, launch: LaunchWork) -> None:
        """Take back the endpoint of a work process a previous agent started (as its launch recorded it)."""
        port = launch.vars.get("_port")
        if not isinstance(port, int):
            return  # recorded by an agent that gave no ports
        key = (launch.work_name, launch.attempt)
        self.allocator.hold(key, port)
        self._set(key, WorkEndpoint(str(launch.vars.get("_host") or "127.0.0.1"), port,
                                    str(launch.vars.get("_internal_ip") or self.advertise_address)))

    def watch(self, key: WorkKey, readiness_path: str) -> None:
        """Probe the work's server until it answers (its process is up)."""
        if key in self.current and key not in self._watchers:
            self._watchers[key] = asyncio.create_task(self._probe(key, readiness_path))

    def release(self, key: WorkKey) -> None:
        """The work's process ended: stop probing, take its port back."""
        watcher = self._watchers.pop(key, None)
        if watcher is not None:
            watcher.cancel()
        self.allocator.release(key)
        self.current.pop(key, None)

    def resend(self) -> None:
        """Report every endpoint again (a new session with the control plane)."""
        for (work_name, attempt), endpoint in self.current.items():
            self._report(work_name, attempt, endpoint)

    def target(self, work_name: str, attempt: int) -> tuple[str, int] | None:
        """Where this machine connects to the server of (work_name, attempt), if it has a port here."""
        endpoint = self.current.get((work_name, attempt))
        return (connect_host(endpoint.host), endpoint.port) if endpoint is not None else None

    def close(self) -> None:
        """Stop every probe."""
        for watcher in self._watchers.values():
            watcher.cancel()
        self._watchers.clear()

    def _set(self, key: WorkKey, endpoint: WorkEndpoint) -> None:
        if self.current.get(key) != endpoint:
            self.current[key] = endpoint
            self._report(key[0], key[1], endpoint)

    async def _probe(self, key: WorkKey, readiness_path: str) -> None:
        delay_s = _FIRST_PROBE_DELAY_S
        while (endpoint := self.current.get(key)) is not None:
            host = connect_host(endpoint.host)
            why = await (_http_check(host, endpoint.port, readiness_path) if readiness_path
                         else _tcp_check(host, endpoint.port))
            if why is None:
                self._set(key, dataclasses.replace(endpoint, url=url_of(endpoint.internal_ip, endpoint.port),
                                                   message=""))
                log.info("work_ready", work_name=key[0], attempt=key[1], url=self.current[key].url)
                self._watchers.pop(key, None)
                return
            if readiness_path:  # a work that says it serves: its status tells why it is not ready yet
                self._set(key, dataclasses.replace(endpoint, message=f"not ready: {why}"))
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 1.5, _MAX_PROBE_DELAY_S)


async def _tcp_check(host: str, port: int) -> str | None:
    """None when ``host:port`` accepts a connection, else why not."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), _PROBE_TIMEOUT_S)
    except (OSError, asyncio.TimeoutError):
        return f"nothing accepts connections on {host}:{port} yet"
    writer.close()
    return None


async def _http_check(host: str, port: int, path: str) -> str | None:
    """None when ``GET path`` answers 2xx, else why not."""
    def status() -> int:
        connection = http.client.HTTPConnection(host, port, timeout=_PROBE_TIMEOUT_S)
        try:
            connection.request("GET", path)
            return connection.getresponse().status
        finally:
            connection.close()

    try:
        code = await asyncio.to_thread(status)
    except (OSError, http.client.HTTPException):
        return f"nothing accepts connections on {host}:{port} yet"
    return None if 200 <= code < 300 else f"GET {path} on port {port} answers {code}"
