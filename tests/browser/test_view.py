"""The /view dashboard in a real headless Chromium against a real ``lightning-ctl run``: the login link signs in,
a work's status and logs update live (no reload), a layout tab shows the app's own UI, and the stop button (after
confirmation) ends the app with exit status 0. Skipped, saying why, where Chromium or playwright is missing."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.e2e import APPS, TAG_VAR, kill_tagged
from tests.helpers import wait_until
from tests.helpers.processes import AppProcess

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT_S = 30.0
pytestmark = [pytest.mark.browser, pytest.mark.e2e]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (scripts/test installs it as root: apt-get install chromium)",
                allow_module_level=True)


@pytest.fixture
def browser() -> Iterator[object]:
    """A headless Chromium (the system's; playwright downloads nothing)."""
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[AppProcess, str, str]]:
    """http_app.py running with its own HOME: the process, the printed login link, and the operator token."""
    tag = os.urandom(8).hex()
    process = AppProcess(APPS / "http_app.py", "--http-port", "0", env={"HOME": str(tmp_path), TAG_VAR: tag})
    try:
        line = wait_until(lambda: next((x for x in process.stderr_lines if "View it in your browser" in x), None),
                          TIMEOUT_S, what="the view's URL")
        link = re.search(r"(https?://\S+/view\?token=\S+)", line).group(1)
        token = json.loads((tmp_path / ".lightning-ctl" / "run.json").read_text())["token"]
        yield process, link, token
    finally:
        process.kill_all()
        kill_tagged(tag)


def test_without_the_cookie_the_view_is_refused(browser, app) -> None:
    """A browser that did not use the login link gets the refusal page, not the dashboard."""
    _, link, _ = app
    page = browser.new_page()
    response = page.goto(link.split("?")[0])
    assert response.status == 401
    assert "access refused" in page.inner_text("h1")


def test_the_view_follows_the_app_live_and_stops_it(browser, app) -> None:
    """Login link, live status and logs without reloading, a layout tab, then stop with confirmation: exit 0."""
    process, link, token = app
    page = browser.new_page()
    page.goto(link)
    assert page.url.endswith("/view")  # the one-time token is gone from the address bar
    stage = page.locator("tr[data-work='root.worker'] [data-testid=work-stage]")
    stage.wait_for()
    sync_api.expect(stage).to_have_text("running", timeout=TIMEOUT_S * 1000)
    sync_api.expect(page.locator("#log")).to_contain_text("worker says hello", timeout=TIMEOUT_S * 1000)
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)

    base = link.split("/view")[0]
    headers = {"Authorization": f"Bearer {token}"}
    state = requests.get(base + "/api/v1/state", headers=headers, timeout=10).json()
    state["vars"]["release"] = True
    assert requests.post(base + "/api/v1/state", json={"state": state}, headers=headers, timeout=10).ok
    sync_api.expect(stage).to_have_text("succeeded", timeout=TIMEOUT_S * 1000)
    sync_api.expect(page.locator("#log")).to_contain_text("worker is done", timeout=TIMEOUT_S * 1000)
    assert navigations == []  # pushed, not reloaded

    page.click("button.tab:has-text('UI')")
    frame = page.frame_locator("#tab-frames iframe[title='UI']")
    sync_api.expect(frame.locator("#greeting")).to_have_text("Hello from the app's own UI", timeout=TIMEOUT_S * 1000)
    page.click("button.tab[data-tab=overview]")

    page.click("#stop")
    page.click("#confirm-stop-yes")
    sync_api.expect(page.locator("#ended")).to_contain_text("exit status 0", timeout=TIMEOUT_S * 1000)
    assert process.wait(TIMEOUT_S).exit_code == 0


def test_a_streamlit_frontend_reads_and_writes_the_state(browser, tmp_path: Path) -> None:
    """StreamlitFrontend runs as its own process behind /ui/<flow>/ (HTTP and WebSocket proxied); its button
    writes the flow's attribute through AppState and the REST API."""
    pytest.importorskip("streamlit", reason="streamlit is not installed (the optional extra: pip install -e '.[streamlit]')")
    app_file = Path(__file__).resolve().parent.parent / "e2e" / "compat_apps" / "streamlit_counter.py"
    tag = os.urandom(8).hex()
    process = AppProcess(app_file, "--http-port", "0", env={"HOME": str(tmp_path), TAG_VAR: tag})
    try:
        line = wait_until(lambda: next((x for x in process.stderr_lines if "View it in your browser" in x), None),
                          TIMEOUT_S, what="the view's URL")
        page = browser.new_page()
        page.goto(re.search(r"(https?://\S+/view\?token=\S+)", line).group(1))
        page.click("button.tab:has-text('Counter')")
        frame = page.frame_locator("#tab-frames iframe")
        sync_api.expect(frame.get_by_text("COUNTER")).to_be_visible(timeout=60_000)
        frame.get_by_role("button", name="bump").click()
        run = json.loads((tmp_path / ".lightning-ctl" / "run.json").read_text())
        headers = {"Authorization": f"Bearer {run['token']}"}
        wait_until(lambda: requests.get(run["http_url"] + "/api/v1/state", headers=headers, timeout=10)
                   .json()["flows"]["ui"]["vars"]["counter"] == 1, TIMEOUT_S, what="the bump to reach the flow")
    finally:
        process.kill_all()
        kill_tagged(tag)


def test_a_streamlit_work_renders_its_attributes_through_the_proxy(browser, tmp_path: Path) -> None:
    """ServeStreamlit: a browser logged in through `lightning-ctl open --browser`'s kind of link (next=) lands on
    /works/root.page/, and the page shows the work's attribute read through the app's state."""
    pytest.importorskip("streamlit", reason="streamlit is not installed (the optional extra: pip install -e '.[streamlit]')")
    app_file = Path(__file__).resolve().parent.parent / "e2e" / "apps_serve" / "streamlit_work.py"
    tag = os.urandom(8).hex()
    process = AppProcess(app_file, "--http-port", "0", env={"HOME": str(tmp_path), TAG_VAR: tag})
    try:
        line = wait_until(lambda: next((x for x in process.stderr_lines if "View it in your browser" in x), None),
                          TIMEOUT_S, what="the view's URL")
        process.wait_for_line("SERVING ", 60)
        link = re.search(r"(https?://\S+/view\?token=\S+)", line).group(1)
        page = browser.new_page()
        page.goto(link + "&next=/works/root.page/")
        assert "/works/root.page/" in page.url
        sync_api.expect(page.get_by_text("hello from the work")).to_be_visible(timeout=60_000)
    finally:
        process.kill_all()
        kill_tagged(tag)
