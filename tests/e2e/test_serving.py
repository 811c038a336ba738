"""End-to-end: works that serve. A work on one ``lightning-agent`` serves HTTP on the port its agent gave it, is
reached by a work on another agent through its ``url``, and by a client through the control plane's one address
(``/works/<name>/``, behind the app's authentication: HTTP, redirects, WebSocket, a large streamed answer); a full
port range keeps a work pending with a reason; a restarted work keeps serving at the same proxied URL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import uuid
from pathlib import Path

import aiohttp
import psutil
import pytest
import requests

from tests.e2e import TAG_VAR, kill_tagged, reported
from tests.helpers import free_port
from tests.helpers.agents import Cluster
from tests.helpers.processes import AppProcess
from tests.helpers.serving import App

pytestmark = pytest.mark.e2e
APPS = Path(__file__).resolve().parent / "apps_serve"
TIMEOUT_S = 30.0


def _serving(cluster: Cluster, app: str, *agent_args: tuple[str, ...]) -> App:
    cp = cluster.control_plane(APPS / app, "--http-port", "0")
    for index, args in enumerate(agent_args):
        cluster.agent(f"agent{index}", "--cpus", "8", *args)
    return App(cluster, cp, TIMEOUT_S)


def _free_port_range() -> str:
    port = free_port()
    return f"{port}-{port}"


def test_a_server_on_one_agent_is_reached_by_a_work_on_another_and_through_the_proxy(cluster: Cluster) -> None:
    """The server gets its port from its agent's range; the flow and the work see the same host, port and
    internal_ip; the client on another agent reaches it through url; the proxy answers with the token only."""
    ports = _free_port_range()
    app = _serving(cluster, "two_agents.py", ("--labels", "role=server", "--ports", ports),
                   ("--labels", "role=client"))
    line = cluster.wait_until(lambda: app.cp.lines_with("CLIENT_GOT", "stdout"), "the client's answer", TIMEOUT_S)
    assert line
    saw = reported(app.cp.stdout, "FLOW_SAW")
    port = int(ports.split("-")[0])
    assert saw["port"] == port and saw["seen"]["port"] == port, saw
    assert {k: saw[k] for k in ("host", "internal_ip")} == {k: saw["seen"][k] for k in ("host", "internal_ip")}
    assert saw["internal_ip"] == "127.0.0.1" and saw["url"] == f"http://127.0.0.1:{port}"
    assert reported(app.cp.stdout, "CLIENT_GOT")["path"] == "/hello?from=client"

    assert app.get("/works/root.server/hello", token=None).status_code == 401
    assert app.get("/works/root.server/hello", token="wrong").status_code == 401
    hello = app.get("/works/root.server/hello?x=1")
    assert hello.status_code == 200, hello.text
    body = hello.json()
    assert body["path"] == "/hello?x=1" and body["prefix"] == "/works/root.server"
    assert body["authorization"] == "", "the operator's token must never reach the work"
    assert app.get("/works/root.server").headers["Location"] == "/works/root.server/"
    assert app.get("/works/root.server/go").headers["Location"] == "/works/root.server/hello"
    echoed = requests.post(app.url + "/works/root.server/echo", data=b"x" * 300_000, timeout=30,
                           headers={"Authorization": f"Bearer {app.token}"})
    assert echoed.content == b"x" * 300_000
    missing = app.get("/works/root.nothing/hello")
    assert missing.status_code == 404 and "root.server" in missing.json()["detail"]

    work = app.work("root.server")
    assert work["url"] == f"http://127.0.0.1:{port}" and work["proxy_url"] == f"{app.url}/works/root.server/"
    code, out, _ = app.ctl("open", "server")
    assert (code, out.strip()) == (0, f"{app.url}/works/root.server/")
    code, out, _ = app.ctl("status")
    assert "SERVING" in out and f"{app.url}/works/root.server/" in out


def test_a_websocket_and_a_large_streamed_answer_go_through_the_proxy(cluster: Cluster) -> None:
    """A WebSocket echoes through the tunnel; 100 MB stream through it while the control plane's memory stays
    bounded (far below the size of the answer)."""
    app = _serving(cluster, "two_agents.py", ("--labels", "role=server"), ("--labels", "role=client"))
    cluster.wait_until(lambda: app.cp.lines_with("CLIENT_GOT", "stdout"), "the server to serve", TIMEOUT_S)

    async def talk() -> list[str]:
        ws_url = app.url.replace("http", "ws", 1) + "/works/root.server/ws"
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws_url, headers={"Authorization": f"Bearer {app.token}"}) as ws:
                answers = []
                for text in ("one", "two"):
                    await ws.send_str(text)
                    answers.append((await ws.receive(timeout=10)).data)
                return answers

    assert asyncio.run(talk()) == ["echo: one", "echo: two"]

    control_plane = psutil.Process(app.cp.pid)
    baseline = control_plane.memory_info().rss
    peak, received = baseline, 0
    with requests.get(app.url + "/works/root.server/big?mb=100", stream=True, timeout=60,
                      headers={"Authorization": f"Bearer {app.token}"}) as response:
        assert response.status_code == 200
        for chunk in response.iter_content(1 << 20):
            received += len(chunk)
            peak = max(peak, control_plane.memory_info().rss)
    assert received == 100 << 20
    assert peak - baseline < 40 << 20, f"the control plane grew by {(peak - baseline) >> 20} MiB streaming 100 MiB"


def test_a_full_port_range_keeps_a_work_pending_with_a_reason(cluster: Cluster) -> None:
    """With one port in its range and the server holding it, the client waits, its status naming the range."""
    ports = _free_port_range()
    app = _serving(cluster, "one_port.py", ("--ports", ports))
    message = cluster.wait_until(lambda: app.cp.lines_with("PENDING", "stdout"), "the pending reason", TIMEOUT_S)
    reason = reported(app.cp.stdout, "PENDING")
    assert f"every port of its range {ports} held by its works" in reason, message
    assert app.work("root.second")["status"] == "pending"


def test_a_restarted_work_keeps_serving_at_the_same_proxied_url(cluster: Cluster) -> None:
    """SIGKILL of the server's process: its restart policy starts it again, and /works/root.server/ answers from
    the new process."""
    app = _serving(cluster, "two_agents.py", ("--labels", "role=server"), ("--labels", "role=client"))
    cluster.wait_until(lambda: app.cp.lines_with("CLIENT_GOT", "stdout"), "the server to serve", TIMEOUT_S)
    first = app.get("/works/root.server/hello").json()["pid"]
    os.kill(first, signal.SIGKILL)

    def answered_by_another() -> int | None:
        response = app.get("/works/root.server/hello")
        if response.status_code != 200:
            return None
        pid = response.json()["pid"]
        return pid if pid != first else None

    second = cluster.wait_until(answered_by_another, "the restarted server to answer", TIMEOUT_S)
    assert second != first
    assert app.work("root.server")["restarts"] == 1


def test_on_the_local_agent_readiness_and_a_taken_port_are_reported(tmp_path: Path) -> None:
    """The local agent's server is proxied directly; a work whose readiness path never answers keeps url "" with
    a status message saying it is not ready; a work asking for a port in use fails with port_unavailable."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    taken = holder.getsockname()[1]
    tag = uuid.uuid4().hex
    home = tmp_path / "home"
    process = AppProcess(APPS / "local_serving.py", "--http-port", "0",
                         env={"HOME": str(home), TAG_VAR: tag, "TAKEN_PORT": str(taken)})
    try:
        for tag_name in ("SERVING", "NOT_READY", "TAKEN"):
            process.wait_for_line(f"{tag_name} ", TIMEOUT_S)
        not_ready = reported(process.stdout, "NOT_READY")
        assert not_ready["url"] == "" and not_ready["port"], not_ready
        assert "not ready: nothing accepts connections" in not_ready["message"], not_ready
        failed = reported(process.stdout, "TAKEN")
        assert failed["reason"] == "port_unavailable" and f"port {taken} is in use" in failed["message"], failed
        run = json.loads((home / ".lightning-ctl" / "run.json").read_text())
        headers = {"Authorization": f"Bearer {run['token']}"}
        answer = requests.get(run["http_url"] + "/works/root.server/hello", timeout=30, headers=headers)
        assert answer.status_code == 200 and answer.json()["work"] == "root.server"
        never = requests.get(run["http_url"] + "/works/root.never/", timeout=30, headers=headers)
        assert never.status_code == 503 and "not ready" in never.json()["detail"]
        assert never.headers["Retry-After"] == "1"
        with requests.get(run["http_url"] + "/api/v1/events", headers=headers, stream=True, timeout=30) as events:
            snapshot = next(json.loads(line[len("data: "):]) for line in events.iter_lines(decode_unicode=True)
                            if line.startswith("data: "))
        works = snapshot["doc"]["works"]
        assert works["root.server"]["proxy_url"] == "/works/root.server/", "the view links through this server"
        assert works["root.never"]["proxy_url"] == ""
    finally:
        holder.close()
        process.kill_all()
        kill_tagged(tag)


def test_a_python_server_answers_directly_and_through_the_proxy_and_stops_cleanly(tmp_path: Path) -> None:
    """PythonServer: /predict takes and gives its types at its url and at /works/root.server/predict; its docs
    find their schema through the proxy; the app's SIGTERM stops it promptly (on_exit, no SIGKILL)."""
    tag = uuid.uuid4().hex
    home = tmp_path / "home"
    process = AppProcess(APPS / "python_server.py", "--http-port", "0", env={"HOME": str(home), TAG_VAR: tag})
    try:
        process.wait_for_line("SERVING ", TIMEOUT_S)
        serving = reported(process.stdout, "SERVING")
        assert serving["ready"] is True, serving
        direct = requests.post(serving["url"] + "/predict", json={"text": "hi"}, timeout=30)
        assert direct.json() == {"text": "HI"}
        run = json.loads((home / ".lightning-ctl" / "run.json").read_text())
        headers = {"Authorization": f"Bearer {run['token']}"}
        proxied = requests.post(run["http_url"] + "/works/root.server/predict", json={"text": "yo"}, timeout=30,
                                headers=headers)
        assert proxied.json() == {"text": "YO"}
        invalid = requests.post(run["http_url"] + "/works/root.server/predict", json=[1], timeout=30, headers=headers)
        assert invalid.status_code == 422, invalid.text
        docs = requests.get(run["http_url"] + "/works/root.server/docs", timeout=30, headers=headers)
        assert docs.status_code == 200 and "/works/root.server/openapi.json" in docs.text
        process.signal(signal.SIGTERM)
        ended = process.wait(TIMEOUT_S)
        assert ended.exit_code == 143, ended.stderr
        assert "work_killed_after_grace" not in ended.stderr
    finally:
        process.kill_all()
        kill_tagged(tag)


def test_an_app_using_a_component_without_its_library_fails_at_load_naming_the_extra(tmp_path: Path) -> None:
    """ServeGradio without gradio: lightning-ctl run exits 1 saying pip install 'lightning-ctl[gradio]'."""
    import importlib.util

    if importlib.util.find_spec("gradio") is not None:
        pytest.skip("gradio is installed here: the app would load")
    tag = uuid.uuid4().hex
    process = AppProcess(APPS / "gradio_without_gradio.py", env={"HOME": str(tmp_path), TAG_VAR: tag})
    try:
        ended = process.wait(TIMEOUT_S)
    finally:
        process.kill_all()
        kill_tagged(tag)
    assert ended.exit_code == 1
    assert "pip install 'lightning-ctl[gradio]'" in ended.stderr, ended.stderr
    assert "lightning_ctl/sdk" not in ended.stderr and "sdk/components" not in ended.stderr, ended.stderr


def test_a_streamlit_work_is_served_through_the_proxy(tmp_path: Path) -> None:
    """ServeStreamlit: once its health path answers, its page and its WebSocket are reached at /works/<name>/
    (Streamlit finds its own base path from the page's address)."""
    pytest.importorskip("streamlit", reason="streamlit is not installed (the optional extra: "
                                            "pip install -e '.[streamlit]')")
    tag = uuid.uuid4().hex
    home = tmp_path / "home"
    process = AppProcess(APPS / "streamlit_work.py", "--http-port", "0", env={"HOME": str(home), TAG_VAR: tag})
    try:
        process.wait_for_line("SERVING ", 60)
        run = json.loads((home / ".lightning-ctl" / "run.json").read_text())
        headers = {"Authorization": f"Bearer {run['token']}"}
        page = requests.get(run["http_url"] + "/works/root.page/", timeout=30, headers=headers)
        assert page.status_code == 200 and "<html" in page.text.lower()
        health = requests.get(run["http_url"] + "/works/root.page/_stcore/health", timeout=30, headers=headers)
        assert health.status_code == 200 and health.text.strip() == "ok"

        async def open_stream() -> bool:
            url = run["http_url"].replace("http", "ws", 1) + "/works/root.page/_stcore/stream"
            async with aiohttp.ClientSession() as session:
                async with session.ws_connect(url, headers=headers, protocols=("streamlit",)) as ws:
                    return not ws.closed

        assert asyncio.run(open_stream())
    finally:
        process.kill_all()
        kill_tagged(tag)


def test_a_gradio_work_is_served_through_the_proxy(tmp_path: Path) -> None:
    """ServeGradio: through /works/<name>/ its config names that address as its root (and directly its own), and a
    prediction goes through its API there (a server-sent stream)."""
    pytest.importorskip("gradio", reason="gradio is not installed (the optional extra: pip install -e '.[gradio]')")
    tag = uuid.uuid4().hex
    home = tmp_path / "home"
    process = AppProcess(APPS / "gradio_work.py", "--http-port", "0", env={"HOME": str(home), TAG_VAR: tag})
    try:
        process.wait_for_line("SERVING ", 90)
        direct = reported(process.stdout, "SERVING")["url"]
        run = json.loads((home / ".lightning-ctl" / "run.json").read_text())
        headers = {"Authorization": f"Bearer {run['token']}"}
        proxied = run["http_url"] + "/works/root.ui"
        config = requests.get(proxied + "/config", timeout=30, headers=headers).json()
        assert config["root"] == proxied
        assert requests.get(direct + "/config", timeout=30).json()["root"] == direct
        api = proxied + config.get("api_prefix", "")
        event = requests.post(api + "/call/predict", json={"data": ["hi"]}, timeout=30, headers=headers).json()
        with requests.get(f"{api}/call/predict/{event['event_id']}", timeout=30, headers=headers) as answer:
            assert 'data: ["HI"]' in answer.text, answer.text
    finally:
        process.kill_all()
        kill_tagged(tag)


def test_lightning_ctl_run_gives_the_local_agents_works_ports_of_its_range(tmp_path: Path) -> None:
    """--work-ports FIRST-LAST: the local agent's server listens on the range's port."""
    port = free_port()
    tag = uuid.uuid4().hex
    process = AppProcess(APPS / "python_server.py", "--http-port", "0", "--work-ports", f"{port}-{port}",
                         env={"HOME": str(tmp_path / "home"), TAG_VAR: tag})
    try:
        process.wait_for_line("SERVING ", TIMEOUT_S)
        assert reported(process.stdout, "SERVING")["url"] == f"http://127.0.0.1:{port}"
    finally:
        process.kill_all()
        kill_tagged(tag)
