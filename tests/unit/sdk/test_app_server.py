"""Tests for sdk._app_server: what the app's own processes are told about its HTTP server, and their key to it."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from lightning_ctl.sdk import _app_server
from lightning_ctl.sdk._app_server import CREDENTIAL_VAR, app_process_environ, auth_headers, install_netrc


@pytest.fixture
def work_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """A work process's environment: the server's address and its key; temporary files in ``tmp_path``."""
    monkeypatch.setenv(_app_server.STATE_URL_VAR, "http://127.0.0.1")
    monkeypatch.setenv(_app_server.PORT_VAR, "7777")
    monkeypatch.setenv(CREDENTIAL_VAR, "work:lctl-key.k.s")
    # setenv first so that monkeypatch restores NETRC's absence: install_netrc sets it behind monkeypatch's back,
    # and a NETRC left in the environment makes requests replace later tests' Authorization headers.
    monkeypatch.setenv("NETRC", "")
    monkeypatch.delenv("NETRC")
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def test_processes_started_for_the_app_get_its_key_and_no_other_credential(work_env, monkeypatch) -> None:
    """A frontend's environment keeps the works' API key and loses the operator's token and join tokens."""
    monkeypatch.setenv("LIGHTNING_CTL_TOKEN", "operator")
    monkeypatch.setenv("LIGHTNING_AGENT_JOIN_TOKEN", "join")
    env = app_process_environ()
    assert env[CREDENTIAL_VAR] == "work:lctl-key.k.s"
    assert "LIGHTNING_CTL_TOKEN" not in env and "LIGHTNING_AGENT_JOIN_TOKEN" not in env


def test_the_key_reaches_http_clients_by_itself(work_env) -> None:
    """install_netrc writes an owner-only NETRC for the app's host (both loopback names) and points NETRC at it;
    auth_headers carries the same key as basic auth."""
    path = install_netrc()
    assert path is not None and os.environ["NETRC"] == path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = open(path).read()
    assert "machine 127.0.0.1 login work password lctl-key.k.s" in text and "machine localhost" in text
    assert auth_headers() == {"Authorization": "Basic " + base64.b64encode(b"work:lctl-key.k.s").decode()}


def test_without_a_key_nothing_is_written(work_env, monkeypatch) -> None:
    """A process given no key (--no-http) gets no NETRC and sends no Authorization header."""
    monkeypatch.delenv(CREDENTIAL_VAR)
    assert install_netrc() is None and auth_headers() == {} and "NETRC" not in os.environ
