"""Unit tests for controlplane.output.banner: the few lines `lightning-ctl run` says about where the app is."""

from __future__ import annotations

import io

from lightning_ctl.controlplane.output.banner import STARTING, Whereabouts, print_starting, print_whereabouts


def _text(where: Whereabouts) -> str:
    out = io.StringIO()
    print_whereabouts(where, out)
    return out.getvalue()


def test_a_loopback_app_says_its_address_how_agents_join_and_how_to_watch_it() -> None:
    """Three lines: the address (this machine only), the agent command asking for a join token, the watch
    commands; no secret in them."""
    lines = _text(Whereabouts("app.py", "127.0.0.1", 4321, is_loopback=True, has_tls=False)).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("App app.py: control plane on 127.0.0.1:4321 (gRPC, this machine only")
    assert lines[1].endswith("LIGHTNING_AGENT_JOIN_TOKEN=$(lightning-ctl agents join-token) lightning-agent "
                             "--control-plane 127.0.0.1:4321")
    assert "lightning-ctl status" in lines[2] and "lightning-ctl logs -f" in lines[2]


def test_a_tls_app_on_every_interface_asks_agents_for_the_ca() -> None:
    """Listening beyond loopback with TLS: no "this machine only", and the agent command carries --tls-ca."""
    text = _text(Whereabouts("app.py", "gpu-host", 4321, is_loopback=False, has_tls=True))
    assert "this machine only" not in text and "--control-plane gpu-host:4321 --tls-ca CA.pem" in text


def test_ipv6_addresses_are_bracketed() -> None:
    """An IPv6 host is written [::1]:PORT, as gRPC targets are."""
    assert "--control-plane [::1]:4321" in _text(Whereabouts("app.py", "::1", 4321, True, False))


def test_the_first_line_is_the_former_frameworks() -> None:
    """The run opens with the former framework's own first line."""
    out = io.StringIO()
    print_starting(out)
    assert out.getvalue() == STARTING + "\n" == "Your Lightning App is starting. This won't take long.\n"
