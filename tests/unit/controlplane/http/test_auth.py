"""Tests for controlplane.http.auth: every request is checked for Host, credentials, Origin and scope."""

from __future__ import annotations

import base64

import pytest

from lightning_ctl.controlplane.credential_store import CredentialStore
from lightning_ctl.controlplane.http.auth import API_PERMISSION, Authenticator, Scope, work_credential

TOKEN = "operator-token"


@pytest.fixture
def store() -> CredentialStore:
    return CredentialStore(TOKEN)


@pytest.fixture
def auth(store: CredentialStore) -> Authenticator:
    return Authenticator(store, "127.0.0.1", 7501)


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


@pytest.mark.parametrize("host", ["127.0.0.1:7501", "localhost:7501", "[::1]:7501", "10.1.2.3:7501", "127.0.0.1"])
def test_hosts_naming_this_server_are_accepted(auth, host):
    """IP literals and loopback names cannot be rebound by another site's DNS."""
    assert auth.check_host(host) is None


def test_a_foreign_host_name_is_refused(auth):
    """DNS rebinding: a page of evil.example resolving to 127.0.0.1 sends Host: evil.example."""
    refusal = auth.check_host("evil.example:7501")
    assert refusal is not None and refusal.status == 421 and "evil.example" in refusal.message


def test_allowed_hosts_extend_the_names(store):
    """--http-allowed-host adds a name."""
    assert Authenticator(store, "127.0.0.1", 7501, ("app.internal",)).check_host("app.internal:7501") is None


def test_cross_origin_writes_are_refused_and_same_origin_ones_pass(auth):
    """A POST or WebSocket from another origin is refused; reads, same-origin and Origin-less clients pass."""
    assert auth.check_origin("POST", False, "http://evil.example", "127.0.0.1:7501", "http").status == 403
    assert auth.check_origin("GET", True, "http://evil.example", "127.0.0.1:7501", "http").status == 403
    assert auth.check_origin("GET", False, "http://evil.example", "127.0.0.1:7501", "http") is None
    assert auth.check_origin("POST", False, "http://127.0.0.1:7501", "127.0.0.1:7501", "http") is None
    assert auth.check_origin("POST", False, None, "127.0.0.1:7501", "http") is None


def test_credentials_map_to_their_scopes(auth, store):
    """The store's roles decide: the operator token (Bearer or basic) is the operator; a scoped key with the api
    permission is the work; anything else (a wrong token, a key for something else) nothing."""
    key = store.issue_scoped_key("app-works", {API_PERMISSION})
    other_key = store.issue_scoped_key("someone", {"metrics"})
    assert auth.identify(f"Bearer {TOKEN}", None) is Scope.OPERATOR
    assert auth.identify(basic("anyone", TOKEN), None) is Scope.OPERATOR
    assert auth.identify(basic("work", key), None) is Scope.WORK
    assert auth.identify(f"Bearer {key}", None) is Scope.WORK
    assert auth.identify("Bearer wrong", None) is None
    assert auth.identify(f"Bearer {other_key}", None) is None
    assert auth.identify(basic("someone", key), None) is None
    assert auth.identify("Basic !!!", None) is None
    assert auth.identify(None, "no-such-session") is None
    assert work_credential(key) == f"work:{key}"


def test_agent_credentials_and_join_tokens_open_nothing(auth, store):
    """The credentials of agents are never HTTP credentials, not even for the work scope."""
    join = store.issue_join_token()
    agent_credential, _ = store.join(join.token_id, "a1", "gpu-1")
    for credential in (join.token, agent_credential):
        assert auth.identify(f"Bearer {credential}", None) is None
        assert auth.identify(basic("work", credential), None) is None


def test_a_login_link_works_once(auth):
    """The code in the printed URL gives one browser session and is then used up."""
    code = auth.mint_login_code()
    session = auth.redeem_login_code(code)
    assert session and auth.identify(None, session) is Scope.OPERATOR
    assert auth.redeem_login_code(code) is None
    assert auth.redeem_login_code("made-up") is None


def test_the_work_scope_reaches_the_api_but_not_stop_or_the_view():
    """The app's own processes may read and write the state and call its routes, nothing more."""
    assert Authenticator.allows(Scope.WORK, "/api/v1/state")
    assert Authenticator.allows(Scope.WORK, "/command/add")
    assert not Authenticator.allows(Scope.WORK, "/api/v1/stop")
    assert not Authenticator.allows(Scope.WORK, "/api/v1/login-links")
    assert not Authenticator.allows(Scope.WORK, "/view")
    assert Authenticator.allows(Scope.OPERATOR, "/view")
