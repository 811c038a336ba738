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


def test_a_layout_tab_of_a_serving_work_points_through_the_proxy() -> None:
    """A tab whose content is a serving work (or a URL of its server) targets /works/<name>/..., so the browser
    reaches it wherever the work runs; another URL is kept."""
    from lightning_ctl.controlplane.http.layout import read_layout
    from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

    class Served(LightningWork):
        def run(self) -> None:
            pass

        def configure_layout(self) -> str:
            return f"{self.url}/docs" if self.url else ""

    class Root(LightningFlow):
        def __init__(self) -> None:
            super().__init__()
            self.server = Served()

        def run(self) -> None:
            pass

        def configure_layout(self) -> list:
            return [{"name": "api", "content": self.server}, {"name": "site", "content": "https://example.com"}]

    app = LightningApp(Root())
    app.root.server._url = "http://10.0.0.5:30001"
    tabs = read_layout(app.root, {})
    assert [t["target"] for t in tabs] == ["/works/root.server/docs", "https://example.com"]


def test_a_login_link_lands_on_a_works_page_of_this_server_only() -> None:
    """``next`` may name a work's or a frontend's page (lightning-ctl open --browser); anything else lands on the
    view, never on another site."""
    from lightning_ctl.controlplane.http.server import _landing

    assert _landing("/works/root.server/") == "/works/root.server/"
    assert _landing("/ui/root.ui/") == "/ui/root.ui/"
    for elsewhere in ("", "https://evil.example/", "//evil.example/works/", "/works//evil.example", "/api/v1/stop",
                      "/works/\\evil"):
        assert _landing(elsewhere) == "/view", elsewhere
