"""The proxy's redirects: a work's server redirecting to one of its own paths lands under /works/<name>/."""

from __future__ import annotations

from lightning_ctl.controlplane.http.proxy import _location


def test_a_redirect_to_the_servers_own_path_comes_back_under_the_prefix() -> None:
    """Absolute paths and the upstream's own URL are rewritten; other sites and relative paths are kept."""
    upstream, prefix = "http://10.0.0.5:30001", "/works/root.server"
    assert _location("/docs", upstream, prefix) == "/works/root.server/docs"
    assert _location("http://10.0.0.5:30001/a?b=1", upstream, prefix) == "/works/root.server/a?b=1"
    assert _location("https://example.com/x", upstream, prefix) == "https://example.com/x"
    assert _location("//example.com/x", upstream, prefix) == "//example.com/x"
    assert _location("next", upstream, prefix) == "next"
