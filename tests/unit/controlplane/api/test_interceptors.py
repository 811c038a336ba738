"""Tests for controlplane.api.interceptors: which kind of credential opens which method."""

from __future__ import annotations

import pytest

from lightning_ctl.controlplane.api.interceptors import allowed_roles, bearer_of
from lightning_ctl.controlplane.credential_store import Role


@pytest.mark.parametrize(
    ("method", "roles"),
    [
        ("/lightning.v1.AgentService/Connect", {Role.AGENT, Role.JOIN}),
        ("/lightning.v1.AgentService/FetchBundle", {Role.AGENT}),
        ("/lightning.v1.AppService/GetStatus", {Role.OPERATOR}),
        ("/lightning.v1.AppService/IssueJoinToken", {Role.OPERATOR}),
        ("/lightning.v1.Other/Thing", set()),
    ],
)
def test_each_method_opens_to_its_credentials_only(method: str, roles: set[Role]) -> None:
    """Agents' methods open to agent credentials (and join tokens to register); the app's to the operator."""
    assert allowed_roles(method) == roles


def test_bearer_is_read_from_the_authorization_metadata() -> None:
    """Only ``authorization: Bearer <credential>`` counts."""
    assert bearer_of((("x", "y"), ("authorization", "Bearer abc"))) == "abc"
    assert bearer_of((("authorization", "Basic abc"),)) == "" and bearer_of(None) == ""
