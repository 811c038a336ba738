"""End-to-end: the app's HTTP server in a real ``lightning-ctl run``: authentication on every route, the former
REST API, the app's own routes and commands, the push stream, and works calling the app's API by themselves."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Iterator

import psutil
import pytest
import requests

from tests.e2e import APPS, TAG_VAR, kill_tagged
from tests.helpers import wait_until
from tests.helpers.certs import OPENSSL, make_certs
from tests.helpers.processes import LIGHTNING_CTL, AppProcess, run_app

pytestmark = pytest.mark.e2e
TIMEOUT_S = 30.0
COMPAT_APPS = Path(__file__).resolve().parent / "compat_apps"


class Served:
    """The running http_app.py: its process, base URL and token."""

    def __init__(self, process: AppProcess, home: Path) -> None:
        self.process = process
        self.home = home
        run = wait_until(lambda: _run_file(home), TIMEOUT_S, what="the run file")
        self.url: str = run["http_url"]
        self.token: str = run["token"]
        wait_until(lambda: any("Your app has started" in line for line in process.stderr_lines), TIMEOUT_S,
                   what="the view's URL")

    def get(self, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.get(self.url + path, headers=headers, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return requests.post(self.url + path, headers=headers, timeout=10, **kwargs)


def _run_file(home: Path) -> dict | None:
    try:
        return json.loads((home / ".lightning-ctl" / "run.json").read_text())
    except (OSError, ValueError):
        return None


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    """One http_app.py shared by the tests that leave it running; HOME of its own; killed at the end."""
    home = tmp_path_factory.mktemp("http-home")
    tag = os.urandom(8).hex()
    process = AppProcess(APPS / "http_app.py", "--http-port", "0",
                         env={"HOME": str(home), TAG_VAR: tag, "NETRC": str(home / "no-netrc")})
    try:
        yield Served(process, home)
    finally:
        process.kill_all()
        kill_tagged(tag)


def test_every_route_needs_credentials(served: Served) -> None:
    """No credential, a wrong token, or a wrong Host: refused before any route runs (JSON for the API)."""
    for path in ("/api/v1/state", "/healthz", "/api/v1/items", "/openapi.json", "/command/add_item", "/ui/root.ui/"):
        assert requests.get(served.url + path, timeout=10).status_code == 401, path
    wrong = requests.get(served.url + "/api/v1/state", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401 and "authentication required" in wrong.json()["detail"]
    rebound = served.get("/api/v1/state", headers={"Host": f"evil.example:{served.url.rsplit(':', 1)[1]}"})
    assert rebound.status_code == 421
    page = requests.get(served.url + "/view", timeout=10)
    assert page.status_code == 401 and "lightning-ctl view" in page.text


def test_a_cross_site_write_is_refused(served: Served) -> None:
    """A page of another origin cannot make the browser stop the app or change its state."""
    response = served.post("/api/v1/stop", headers={"Origin": "http://evil.example"})
    assert response.status_code == 403 and "cross-origin" in response.json()["detail"]


def test_the_login_link_works_once_and_sets_a_strict_http_only_cookie(served: Served) -> None:
    """The printed link signs a browser in (and redirects to /view); using it again is refused."""
    link = served.post("/api/v1/login-links").json()["url"]
    session = requests.Session()
    first = session.get(link, allow_redirects=False, timeout=10)
    assert first.status_code == 303 and first.headers["Location"] == "/view"
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert session.get(served.url + "/view", timeout=10).status_code == 200
    assert requests.get(link, allow_redirects=False, timeout=10).status_code == 401


def test_state_status_layout_and_health_have_the_former_shapes(served: Served) -> None:
    """GET /api/v1/state, /status, /layout and /healthz answer as the former framework's server did."""
    state = served.get("/api/v1/state").json()
    assert set(state) == {"app_state", "flows", "structures", "vars", "works"}
    assert set(state["works"]["worker"]) == {"vars"} and state["app_state"] == {"stage": "running"}
    status = served.get("/api/v1/status").json()
    assert status["is_ui_ready"] is True and "root.worker" in status["work_statuses"]
    layout = json.loads(served.get("/api/v1/layout").json())
    assert layout == [{"name": "UI", "kind": "frontend", "target": "/ui/root.ui/"},
                      {"name": "API docs", "kind": "url", "target": "/docs"}]
    assert served.get("/healthz").json() == {"status": "ok"}
    missing = served.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.json() == {"detail": "Not found"}
    assert "Hello from the app's own UI" in served.get("/ui/root.ui/").text


def test_configure_api_routes_run_in_the_flow_and_may_change_its_state(served: Served) -> None:
    """POST then GET /api/v1/items: the handler's result is the response, and the state it changed is visible."""
    added = served.post("/api/v1/items", params={"name": "first"})
    assert added.status_code == 200 and added.json()["added"] == "first"
    assert "first" in served.get("/api/v1/items").json()
    assert "first" in served.get("/api/v1/state").json()["vars"]["items"]
    missing = served.post("/api/v1/items")
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["query", "name"]


def test_handler_errors_timeouts_and_big_bodies_are_answered_clearly(served: Served) -> None:
    """A raising handler gives 500 with an id the log names; a slow one 504 naming the route; a huge body 413."""
    failed = served.get("/api/v1/boom")
    assert failed.status_code == 500
    error_id = failed.json()["error_id"]
    wait_until(lambda: any(error_id in line and "api_handler_failed" in line for line in served.process.stderr_lines),
               TIMEOUT_S, what="the error id in the log")
    assert "Traceback" not in failed.text
    slow = served.get("/api/v1/slow")
    assert slow.status_code == 504 and "GET /api/v1/slow" in slow.json()["detail"]
    huge = served.post("/api/v1/delta", data=b"x" * (17 * 2**20))
    assert huge.status_code == 413 and "MiB" in huge.json()["detail"]


def test_commands_run_from_the_cli(served: Served) -> None:
    """lightning-ctl command NAME --arg value calls /command/NAME; an unknown command is a usage error."""
    env = {**os.environ, "HOME": str(served.home)}
    listed = subprocess.run([LIGHTNING_CTL, "command"], env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert "add_item --name VALUE" in listed.stdout
    ran = subprocess.run([LIGHTNING_CTL, "command", "add item", "--name", "via-cli"], env=env, capture_output=True,
                         text=True, timeout=TIMEOUT_S)
    assert ran.returncode == 0 and json.loads(ran.stdout)["added"] == "via-cli"
    unknown = subprocess.run([LIGHTNING_CTL, "command", "nope"], env=env, capture_output=True, text=True,
                             timeout=TIMEOUT_S)
    assert unknown.returncode == 2 and "Not found" in unknown.stderr


def test_state_changes_are_pushed_and_a_rest_write_reaches_the_flow(served: Served) -> None:
    """The push stream sends a snapshot, then the worker's move to succeeded after a REST write lets it finish."""
    stream = requests.get(served.url + "/api/v1/events", headers={"Authorization": f"Bearer {served.token}"},
                          stream=True, timeout=30)
    events = _sse(stream)
    kind, snapshot = next(events)
    assert kind == "snapshot" and snapshot["doc"]["works"]["root.worker"]["stage"] == "running"
    state = served.get("/api/v1/state").json()
    state["vars"]["release"] = True
    assert served.post("/api/v1/state", json={"state": state}).status_code == 200
    for kind, data in events:
        if kind == "patch" and [["works", "root.worker", "stage"], "succeeded"] in data["ops"]:
            break
    stream.close()
    wait_until(lambda: any("worker is done" in line for line in served.process.stdout_lines), TIMEOUT_S,
               what="the worker's last line")


def _sse(response: requests.Response):
    kind = None
    for raw in response.iter_lines(decode_unicode=True):
        if raw.startswith("event: "):
            kind = raw[len("event: "):]
        elif raw.startswith("data: "):
            yield kind, json.loads(raw[len("data: "):])


def test_works_call_the_apps_api_with_their_own_credential(tmp_path: Path) -> None:
    """A former app's work uses requests against APP_SERVER_PORT with no credentials and gets in (NETRC); the
    same credential cannot stop the app."""
    run = run_app(COMPAT_APPS / "calls_own_api.py", "--http-port", "0", timeout_s=60,
                  env={"HOME": str(tmp_path)})
    assert run.exit_code == 0, run.stderr
    assert "POST_STATUS 200" in run.stdout and "STOP_STATUS 403" in run.stdout
    assert "FLOW_SAW hello from the flow" in run.stdout


def test_no_http_serves_nothing(tmp_path: Path) -> None:
    """--no-http: no server, and the run file says so (lightning-ctl view then explains)."""
    run = run_app(APPS / "counter.py", "--no-http", timeout_s=60, env={"HOME": str(tmp_path)})
    assert run.exit_code == 0 and "Your app has started" not in run.stderr


def test_a_frontend_with_its_own_server_is_reached_through_the_control_plane(tmp_path: Path) -> None:
    """A flow's Frontend server runs on a loopback port; /ui/<flow>/ proxies to it behind the same auth (waiting
    while it starts); it is stopped when the app ends."""
    process = AppProcess(APPS / "frontend_app.py", "--http-port", "0", env={"HOME": str(tmp_path)})
    try:
        served = Served(process, tmp_path)
        assert requests.get(served.url + "/ui/root.ui/", timeout=10).status_code == 401
        page = served.get("/ui/root.ui/")
        assert page.status_code == 200 and "served by the flow's own server" in page.text
        redirect = served.get("/ui/root.ui", allow_redirects=False)
        assert redirect.status_code == 302 and redirect.headers["Location"] == "/ui/root.ui/"
        pid = int(process.wait_for_line("FRONTEND_PID").split()[-1])
        assert served.post("/api/v1/stop").status_code == 202
        assert process.wait(TIMEOUT_S).exit_code == 0
        wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
                   TIMEOUT_S, what="the frontend's server to stop")
    finally:
        process.kill_all()


def test_with_certificates_the_view_and_api_are_served_over_tls(tmp_path: Path) -> None:
    """--tls-cert/--tls-key: the HTTP server speaks HTTPS (plain HTTP gets nothing) and the login cookie is Secure."""
    if OPENSSL is None:
        pytest.skip("the openssl command is not installed (it makes the test certificates)")
    certs = make_certs(tmp_path / "pki")
    home = tmp_path / "home"
    process = AppProcess(APPS / "http_app.py", "--http-port", "0", "--tls-cert", str(certs.server_cert),
                         "--tls-key", str(certs.server_key), env={"HOME": str(home)})
    try:
        run = wait_until(lambda: _run_file(home), TIMEOUT_S, what="the run file")
        url = run["http_url"]
        assert url.startswith("https://")
        headers = {"Authorization": f"Bearer {run['token']}"}
        state = wait_until(lambda: _get_or_none(url + "/api/v1/state", headers, str(certs.ca)), TIMEOUT_S)
        assert state.status_code == 200 and "app_state" in state.json()
        link = requests.post(url + "/api/v1/login-links", headers=headers, verify=str(certs.ca), timeout=10).json()
        login = requests.get(link["url"], allow_redirects=False, verify=str(certs.ca), timeout=10)
        assert "Secure" in login.headers["Set-Cookie"]
        with pytest.raises(requests.ConnectionError):
            requests.get(url.replace("https://", "http://") + "/api/v1/state", headers=headers, timeout=10)
    finally:
        process.kill_all()


def _get_or_none(url: str, headers: dict[str, str], ca: str) -> requests.Response | None:
    try:
        return requests.get(url, headers=headers, verify=ca, timeout=10)
    except requests.ConnectionError:
        return None
