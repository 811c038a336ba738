"""PortAllocator: the ports an agent gives its works, from its range or any free one, never one in use."""

from __future__ import annotations

import socket

import pytest

from lightning_ctl.agent.errors import PortUnavailableError
from lightning_ctl.agent.ports import PortAllocator, PortRange
from tests.helpers import free_port


def _listening(port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def test_a_range_parses_and_refuses_nonsense() -> None:
    """FIRST-LAST (or one port) parses; reversed, zero or text ranges are refused naming the form."""
    assert PortRange.parse("30000-30999") == PortRange(30000, 30999)
    assert PortRange.parse("8080") == PortRange(8080, 8080)
    for bad in ("30999-30000", "0-10", "a-b", "70000"):
        with pytest.raises(ValueError, match="FIRST-LAST"):
            PortRange.parse(bad)


def test_ports_come_from_the_range_skipping_held_and_busy_ones() -> None:
    """Each work gets its own port of the range; one another process listens on is skipped; a full range says
    how many are held and how many busy."""
    first = free_port()
    ports = PortRange(first, first + 2)
    busy = None
    try:
        busy = _listening(first + 1)
    except OSError:
        pytest.skip("the port after a free one is taken here")
    try:
        allocator = PortAllocator(ports)
        a = allocator.allocate(("root.a", 1))
        b = allocator.allocate(("root.b", 1))
        assert {a, b} == {first, first + 2}
        assert allocator.allocate(("root.a", 1)) == a, "a repeated launch keeps its port"
        with pytest.raises(PortUnavailableError, match=r"2 held by its works, 1 in use"):
            allocator.allocate(("root.c", 1))
        allocator.release(("root.a", 1))
        assert allocator.allocate(("root.c", 1)) == a
    finally:
        busy.close()


def test_an_asked_port_is_given_or_refused_saying_why() -> None:
    """port= is given when free; in use by another process or by another work, the error says which."""
    allocator = PortAllocator()
    wanted = free_port()
    assert allocator.allocate(("root.a", 1), requested=wanted) == wanted
    with pytest.raises(PortUnavailableError, match=f"port {wanted} is held by work root.a"):
        allocator.allocate(("root.b", 1), requested=wanted)
    holder = _listening(0)
    try:
        busy = holder.getsockname()[1]
        with pytest.raises(PortUnavailableError, match=f"port {busy} is in use on this machine"):
            allocator.allocate(("root.c", 1), requested=busy)
    finally:
        holder.close()


def test_a_new_attempt_prefers_its_previous_port() -> None:
    """A restarted work gets the port it had when it is free (its proxied and direct URLs stay the same)."""
    allocator = PortAllocator()
    previous = free_port()
    assert allocator.allocate(("root.a", 2), preferred=previous) == previous
