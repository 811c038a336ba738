"""PortAllocator: the ports an agent gives its works, on its own host, before their processes start.

A work asks for no port (the agent picks one: from ``--ports FIRST-LAST``, or any free port of the machine) or for
one port (``LightningWork(port=...)``), which it gets only if it is free. A port counts as free when no work of this
agent holds it and a socket can bind it on every interface (another process listening on it, on any address, makes
the bind fail). The work's own server binds it moments later; a port taken in between is the work's error to
report, as with any server.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from lightning_ctl.agent.errors import PortUnavailableError
from lightning_ctl.sdk._cli_values import parse_port_range

WorkKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class PortRange:
    """The ports an agent gives its works, first to last inclusive."""

    first: int
    last: int

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """``30000-30999`` (or one port, ``30000``) as a range.

        Raises:
            ValueError: not a range of ports between 1 and 65535.
        """
        return cls(*parse_port_range(text))

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.first <= port <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"


@dataclass(frozen=True, slots=True)
class ServingOptions:
    """What an agent gives its works to serve on (``--advertise-address``, ``--ports``)."""

    advertise_address: str | None = None
    """Where other machines reach the agent's works (None: the address it reaches the control plane from)."""
    ports: PortRange | None = None
    """The ports its works get (None: any free port)."""


def can_bind(port: int) -> bool:
    """Whether ``port`` can be bound on every interface of this machine right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # A port in TIME_WAIT is free for a server (they set SO_REUSEADDR too); a listener on it is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _any_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


class PortAllocator:
    """Hands out ports to (work, attempt) and takes them back when the process ends."""

    def __init__(self, ports: PortRange | None = None) -> None:
        self.ports = ports
        self.held: dict[int, WorkKey] = {}
        self._next = ports.first if ports else 0

    def hold(self, key: WorkKey, port: int) -> None:
        """Record ``port`` as held by ``key`` (a work process adopted from a previous agent)."""
        self.held[port] = key

    def release(self, key: WorkKey) -> None:
        """Take back the port of ``key`` (its process ended)."""
        for port in [p for p, holder in self.held.items() if holder == key]:
            del self.held[port]

    def port_of(self, key: WorkKey) -> int | None:
        """The port ``key`` holds, if any."""
        return next((p for p, holder in self.held.items() if holder == key), None)

    def allocate(self, key: WorkKey, requested: int = 0, preferred: int = 0) -> int:
        """A port for ``key``.

        ``requested`` if it asked for one, else ``preferred`` (its previous port) when free and allowed, else the next
        free one.

        Raises:
        PortUnavailableError: the requested port is in use, or no port of the range is free.
        """
        held = self.port_of(key)
        if held is not None:
            return held
        if requested:
            holder = self.held.get(requested)
            if holder is not None:
                raise PortUnavailableError(f"port {requested} is held by work {holder[0]} on this agent")
            if not can_bind(requested):
                raise PortUnavailableError(f"port {requested} is in use on this machine (another process listens "
                                           "on it)")
            return self._take(key, requested)
        allowed = preferred in self.ports if self.ports else 0 < preferred <= 65535
        if allowed and preferred not in self.held and can_bind(preferred):
            return self._take(key, preferred)
        if self.ports is None:
            while (port := _any_free_port()) in self.held:
                continue
            return self._take(key, port)
        return self._take(key, self._next_in_range())

    def _next_in_range(self) -> int:
        assert self.ports is not None
        size = self.ports.last - self.ports.first + 1
        in_use = 0
        for offset in range(size):
            port = self.ports.first + (self._next - self.ports.first + offset) % size
            if port in self.held:
                continue
            if can_bind(port):
                self._next = port + 1 if port < self.ports.last else self.ports.first
                return port
            in_use += 1
        raise PortUnavailableError(
            f"no free port in this agent's range {self.ports} ({len(self.held)} held by its works, {in_use} in use "
            "by other processes of the machine)"
        )

    def _take(self, key: WorkKey, port: int) -> int:
        self.held[port] = key
        return port
