"""Tests for controlplane.credential_store: each kind of credential, what it may do, and what survives a restart."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from lightning_ctl.controlplane.credential_store import CredentialStore, Role, certificate_fingerprint
from lightning_ctl.controlplane.errors import (
    AgentNotFoundError,
    CredentialForbiddenError,
    CredentialRefusedError,
)

OPERATOR = "the-operators-token"


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    return CredentialStore(OPERATOR, tmp_path / "credentials.json")


class TestAuthenticate:
    def test_operator_token(self, store: CredentialStore) -> None:
        """The operator's token authenticates as the operator."""
        assert store.authenticate(OPERATOR).role is Role.OPERATOR

    @pytest.mark.parametrize("bearer", ["", "nope", "lctl-agent.x.y", "lctl-join.abc.def", "lctl-key.a.b"])
    def test_unknown_credentials_are_refused(self, store: CredentialStore, bearer: str) -> None:
        """Empty, unknown and forged credentials of every kind are refused with a reason."""
        with pytest.raises(CredentialRefusedError):
            store.authenticate(bearer)

    def test_join_token_is_a_join(self, store: CredentialStore) -> None:
        """An issued join token authenticates as a join, named by its id."""
        issued = store.issue_join_token()
        principal = store.authenticate(issued.token)
        assert (principal.role, principal.subject) == (Role.JOIN, issued.token_id)

    def test_expired_join_token_is_refused(self, store: CredentialStore, monkeypatch: pytest.MonkeyPatch) -> None:
        """A join token past its ttl is refused as expired."""
        issued = store.issue_join_token(ttl_s=10)
        monkeypatch.setattr(time, "time", lambda: issued.expires_at + 1)
        with pytest.raises(CredentialRefusedError, match="expired"):
            store.authenticate(issued.token)


class TestJoin:
    def test_one_time_token_joins_one_agent(self, store: CredentialStore) -> None:
        """A one-time token registers one agent; then it is refused as already used."""
        issued = store.issue_join_token(uses=1)
        credential, record = store.join(issued.token_id, "a1", "alpha")
        assert store.authenticate(credential).subject == "a1" and record.name == "alpha"
        with pytest.raises(CredentialRefusedError, match="already used"):
            store.join(issued.token_id, "a2", "beta")
        store.credential_held("a1")
        with pytest.raises(CredentialRefusedError, match="already used"):
            store.authenticate(issued.token)

    def test_an_agent_id_joins_once(self, store: CredentialStore) -> None:
        """A second join under an agent_id that has a credential is forbidden (no taking over an identity)."""
        store.join(store.issue_join_token().token_id, "a1", "alpha")
        with pytest.raises(CredentialForbiddenError, match="already belongs to agent alpha"):
            store.join(store.issue_join_token().token_id, "a1", "impostor")

    def test_a_join_whose_welcome_was_lost_may_be_repeated(self, tmp_path: Path) -> None:
        """A join recorded by a control plane that died before its welcome left: after the restart the same agent
        presents the used one-time token again and gets a new credential (the lost one is refused)."""
        path = tmp_path / "credentials.json"
        first = CredentialStore(OPERATOR, path)
        issued = first.issue_join_token(uses=1)
        lost, _ = first.join(issued.token_id, "a1", "alpha")
        restarted = CredentialStore(OPERATOR, path)
        principal = restarted.authenticate(issued.token)
        credential, record = restarted.join(principal.subject, "a1", "alpha")
        assert restarted.authenticate(credential).subject == "a1" and record.name == "alpha"
        with pytest.raises(CredentialRefusedError, match="unknown agent credential"):
            restarted.authenticate(lost)

    def test_a_repeated_join_and_a_held_credential_outlive_a_restart(self, tmp_path: Path) -> None:
        """What a repeated join and a held credential change is saved: after another restart the new credential
        works, the lost one does not, and the join can no longer be repeated."""
        path = tmp_path / "credentials.json"
        first = CredentialStore(OPERATOR, path)
        issued = first.issue_join_token(uses=1)
        lost, _ = first.join(issued.token_id, "a1", "alpha")
        second = CredentialStore(OPERATOR, path)
        credential, _ = second.join(second.authenticate(issued.token).subject, "a1", "alpha")
        second.credential_held("a1")
        third = CredentialStore(OPERATOR, path)
        assert third.authenticate(credential).subject == "a1"
        with pytest.raises(CredentialRefusedError, match="unknown agent credential"):
            third.authenticate(lost)
        with pytest.raises(CredentialRefusedError, match="already used"):
            third.authenticate(issued.token)

    def test_a_join_is_not_repeated_once_its_credential_is_held(self, store: CredentialStore) -> None:
        """Once the agent showed it holds its credential (a message after the welcome, or any use of it), its
        one-time token is used up for everyone, that agent included."""
        issued = store.issue_join_token(uses=1)
        credential, _ = store.join(issued.token_id, "a1", "alpha")
        store.check_agent(store.authenticate(credential), "a1")
        with pytest.raises(CredentialRefusedError, match="already used"):
            store.authenticate(issued.token)
        with pytest.raises(CredentialRefusedError, match="already used"):
            store.join(issued.token_id, "a1", "alpha")
        other = store.issue_join_token(uses=1)
        second, _ = store.join(other.token_id, "a2", "beta")
        store.credential_held("a2")
        with pytest.raises(CredentialRefusedError, match="already used"):
            store.join(other.token_id, "a2", "beta")
        assert store.authenticate(second).subject == "a2"

    def test_only_the_same_agent_may_repeat_a_join(self, store: CredentialStore) -> None:
        """Repeating a join needs the same agent id, name and certificate: another agent finds the token used."""
        cert = certificate_fingerprint(b"-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n")
        issued = store.issue_join_token(uses=1)
        store.join(issued.token_id, "a1", "alpha", cert)
        for agent_id, name, certificate in (("a2", "alpha", cert), ("a1", "impostor", cert),
                                            ("a1", "alpha", certificate_fingerprint(b"other"))):
            with pytest.raises(CredentialRefusedError, match="already used"):
                store.join(issued.token_id, agent_id, name, certificate)
        store.revoke_agent("a1")
        with pytest.raises(CredentialRefusedError, match="already used"):
            store.authenticate(issued.token)

    def test_token_for_a_name_refuses_another(self, store: CredentialStore) -> None:
        """A join token issued for one agent name refuses another name."""
        issued = store.issue_join_token(agent_name="slurm-42")
        with pytest.raises(CredentialForbiddenError, match="is for agent 'slurm-42'"):
            store.join(issued.token_id, "x", "other")

    def test_provider_scope_and_labels_are_granted(self, store: CredentialStore) -> None:
        """A provider's one-time token scoped to a request gives the agent that scope and its labels."""
        issued = store.issue_join_token(uses=1, ttl_s=60, scope="request-7", labels={"queue": "gpu"})
        _, record = store.join(issued.token_id, "node-1", "node-1")
        assert store.agent_scope("node-1") == "request-7" and record.grant.labels == {"queue": "gpu"}

    def test_static_join_token_joins_many(self, store: CredentialStore) -> None:
        """A --join-token chosen by the operator registers any number of agents."""
        store.accept_static_join_token("a-long-static-join-token")
        for index in range(3):
            principal = store.authenticate("a-long-static-join-token")
            store.join(principal.subject, f"id{index}", f"n{index}")
        assert len(store.agents()) == 3

    def test_static_join_token_must_differ_from_the_operators(self, store: CredentialStore) -> None:
        """The operator's token can never double as a join token."""
        with pytest.raises(ValueError, match="differ"):
            store.accept_static_join_token(OPERATOR + "")


class TestAgents:
    def test_credential_belongs_to_its_agent_id(self, store: CredentialStore) -> None:
        """An agent credential may act only as its own agent_id."""
        credential, _ = store.join(store.issue_join_token().token_id, "a1", "alpha")
        principal = store.authenticate(credential)
        store.check_agent(principal, "a1")
        with pytest.raises(CredentialForbiddenError, match="belongs to agent a1, not a2"):
            store.check_agent(principal, "a2")

    def test_certificate_binding(self, store: CredentialStore) -> None:
        """A credential issued over mutual TLS works only with the same client certificate."""
        cert = certificate_fingerprint(b"-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n")
        credential, _ = store.join(store.issue_join_token().token_id, "a1", "alpha", cert)
        principal = store.authenticate(credential)
        store.check_agent(principal, "a1", cert)
        with pytest.raises(CredentialForbiddenError, match="bound to the client certificate"):
            store.check_agent(principal, "a1", certificate_fingerprint(b"other"))
        with pytest.raises(CredentialForbiddenError, match="bound to the client certificate"):
            store.check_agent(principal, "a1", "")

    def test_revoke_by_name_refuses_the_credential_and_a_new_join(self, store: CredentialStore) -> None:
        """A revoked agent's credential is refused, and it cannot join again under its id."""
        credential, _ = store.join(store.issue_join_token().token_id, "a1", "alpha")
        assert store.revoke_agent("alpha").agent_id == "a1"
        with pytest.raises(CredentialRefusedError, match="was revoked"):
            store.authenticate(credential)
        with pytest.raises(CredentialForbiddenError, match="cannot join again"):
            store.join(store.issue_join_token().token_id, "a1", "alpha")

    def test_revoke_names_what_is_wrong(self, store: CredentialStore) -> None:
        """Revoking an unknown or ambiguous name says so; an id always works."""
        store.join(store.issue_join_token().token_id, "a1", "twin")
        store.join(store.issue_join_token().token_id, "a2", "twin")
        with pytest.raises(AgentNotFoundError, match="no agent is named 'ghost'"):
            store.revoke_agent("ghost")
        with pytest.raises(AgentNotFoundError, match="2 agents are named 'twin': revoke one by its id"):
            store.revoke_agent("twin")
        assert store.revoke_agent("a2").agent_id == "a2"


class TestPersistence:
    def test_agents_and_join_tokens_survive_a_restart(self, tmp_path: Path) -> None:
        """A new store on the same file knows the agents that joined, their revocations and unused join tokens."""
        path = tmp_path / "credentials.json"
        first = CredentialStore(OPERATOR, path)
        kept, _ = first.join(first.issue_join_token().token_id, "a1", "alpha")
        revoked, _ = first.join(first.issue_join_token().token_id, "a2", "beta")
        first.revoke_agent("beta")
        unused = first.issue_join_token(uses=2)
        second = CredentialStore(OPERATOR, path)
        assert second.authenticate(kept).subject == "a1"
        with pytest.raises(CredentialRefusedError, match="revoked"):
            second.authenticate(revoked)
        assert second.authenticate(unused.token).role is Role.JOIN

    def test_file_is_owner_only_and_holds_no_secret(self, store: CredentialStore, tmp_path: Path) -> None:
        """credentials.json is 0600 and holds digests, never a credential or a join token."""
        issued = store.issue_join_token()
        credential, _ = store.join(store.issue_join_token().token_id, "a1", "alpha")
        path = tmp_path / "credentials.json"
        text = path.read_text()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert credential.rsplit(".", 1)[1] not in text and issued.token.rsplit(".", 1)[1] not in text
        assert json.loads(text)["agents"][0]["agent_id"] == "a1"


class TestScopedKeys:
    def test_scoped_key_carries_only_its_permissions(self, store: CredentialStore) -> None:
        """A scoped key (e.g. for a work calling the app's REST API) authenticates with exactly its permissions."""
        key = store.issue_scoped_key("work:root.w", {"api"})
        principal = store.authenticate(key)
        assert (principal.role, principal.subject, principal.permissions) == (Role.SCOPED, "work:root.w",
                                                                               frozenset({"api"}))

    def test_kept_key_outlives_a_restart_and_others_do_not(self, store: CredentialStore, tmp_path: Path) -> None:
        """A kept key (the works' API key: works outlive a control-plane restart) is valid in a store reloaded from
        the file, which holds no secret; a key not kept is gone."""
        kept = store.issue_scoped_key("app-works", {"api"}, keep=True)
        passing = store.issue_scoped_key("other", {"api"})
        reloaded = CredentialStore(OPERATOR, tmp_path / "credentials.json")
        assert reloaded.authenticate(kept).permissions == frozenset({"api"})
        with pytest.raises(CredentialRefusedError, match="unknown key"):
            reloaded.authenticate(passing)
        assert kept.rsplit(".", 1)[1] not in (tmp_path / "credentials.json").read_text()

    def test_forgotten_keys_are_refused_also_after_a_restart(self, store: CredentialStore, tmp_path: Path) -> None:
        """forget_scoped_keys revokes every key of one subject, kept ones included, and leaves the others."""
        first = store.issue_scoped_key("app-works", {"api"}, keep=True)
        second = store.issue_scoped_key("app-works", {"api"}, keep=True)
        other = store.issue_scoped_key("work:root.w", {"api"}, keep=True)
        assert store.forget_scoped_keys("app-works") == 2
        for key in (first, second):
            with pytest.raises(CredentialRefusedError):
                store.authenticate(key)
        reloaded = CredentialStore(OPERATOR, tmp_path / "credentials.json")
        with pytest.raises(CredentialRefusedError):
            reloaded.authenticate(first)
        assert reloaded.authenticate(other).subject == "work:root.w"
