"""CredentialStore: who may talk to a control plane, and what each credential may do.

Four kinds of bearer credential, never interchangeable:

    operator token     the CLI and the HTTP API: operate the app (status, logs, stop, agents, join tokens)
    join token         register one new agent (once by default, until it expires); the welcome then carries
                       the agent's own credential. Scoped: a name the agent must have, labels it gets, free text
                       kept with its credential (a provider's request id), whether it is the local agent
    agent credential   one agent's stream and code bundles, only under the agent_id it was issued for (and,
                       when it joined over mutual TLS, only with that client certificate); revocable
    scoped key         what its permissions name and nothing else (e.g. a work calling the app's own REST API)

Work processes hold nothing that opens the gRPC services: they talk to their agent's socket, and hold at most the
app's scoped key for its HTTP API. Secrets are kept as SHA-256 digests in ``credentials.json`` (0600, in the app's
folder), so agents re-attach (and works keep their API key) after a control-plane restart without a new join; the
operator's token and a join token given with ``--join-token`` are kept by whoever chose them.

A join is recorded (the token used, the credential's digest kept) before its welcome leaves, and the welcome can be
lost with the control plane (a crash) or the connection. Until the agent shows it holds its credential (any message
after its welcome, or any use of the credential), the same agent may repeat that join with the same join token
(same agent id, name and certificate): it gets a new credential in place of the lost one, so it is never locked out
by a join that went through on one side only. After that the token is used up as usual.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Iterable, Mapping

import structlog

from lightning_ctl.controlplane.errors import (
    AgentNotFoundError,
    CredentialForbiddenError,
    CredentialRefusedError,
)
from lightning_ctl.sdk._files import write_atomic

log = structlog.get_logger(component="credentials")

DEFAULT_JOIN_TTL_S = 3600.0
_JOIN_PREFIX = "lctl-join"
_AGENT_PREFIX = "lctl-agent"
_KEY_PREFIX = "lctl-key"
_STATIC_JOIN_ID = "static"


class Role(str, Enum):
    """What kind of credential authenticated a caller."""

    OPERATOR = "operator"
    JOIN = "join"
    AGENT = "agent"
    SCOPED = "scoped"


@dataclass(frozen=True)
class Principal:
    """Who a valid credential speaks for."""

    role: Role
    subject: str
    """``operator``, the join token's id, the agent's id, or the scoped key's id."""
    permissions: frozenset[str] = frozenset()
    """What a scoped key allows."""


@dataclass(frozen=True)
class JoinGrant:
    """What registering with one join token gives an agent."""

    agent_name: str = ""
    """The name the agent must register with ("" for any)."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels the agent gets (over its own)."""
    scope: str = ""
    """Free text kept with the agent's credential, e.g. the provider's request it answers."""
    is_local: bool = False
    """Only lightning-ctl's own local agent: it shares the control plane's files."""


@dataclass
class JoinRecord:
    """A join token: its digest, how long and how often it may be used, and what it grants."""

    token_id: str
    digest: str
    grant: JoinGrant
    expires_at: float | None
    uses_left: int | None
    """None: unlimited."""


@dataclass
class AgentRecord:
    """An agent's credential: whose it is, what it was granted, and whether it was revoked."""

    agent_id: str
    name: str
    digest: str
    grant: JoinGrant
    issued_at: float
    joined_with: str
    """The id of the join token it registered with."""
    cert_sha256: str = ""
    """The client certificate it joined with; "" when it joined without one."""
    revoked_at: float | None = None
    holds_credential: bool = True
    """Whether the agent showed it received its credential (False from its join until then: the join may be
    repeated, see the module's docstring)."""

    def may_repeat_join(self, token_id: str, name: str, cert_sha256: str) -> bool:
        """Whether the same agent may repeat this join (its welcome may have been lost) with these."""
        return (not self.holds_credential and self.revoked_at is None and self.joined_with == token_id
                and self.name == name and hmac.compare_digest(self.cert_sha256, cert_sha256))


@dataclass
class ScopedRecord:
    """A key limited to named permissions."""

    key_id: str
    digest: str
    subject: str
    permissions: frozenset[str]
    expires_at: float | None
    kept: bool = False
    """Kept in ``credentials.json``: it stays valid after a restart of the control plane."""


@dataclass(frozen=True)
class IssuedJoinToken:
    """A join token just made (its secret exists only here and with whoever receives it)."""

    token: str
    token_id: str
    expires_at: float | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _matches(secret: str, digest: str) -> bool:
    return hmac.compare_digest(_digest(secret), digest)


def certificate_fingerprint(pem: bytes | str | None) -> str:
    """The SHA-256 of a client certificate as gRPC reports it (PEM), or "" when there is none."""
    if not pem:
        return ""
    data = pem.encode() if isinstance(pem, str) else pem
    return hashlib.sha256(data.strip()).hexdigest()


class CredentialStore:
    """Issues, checks and revokes the credentials of one control plane (see the module's docstring)."""

    def __init__(self, operator_token: str, path: Path | None = None) -> None:
        """Create the store, taking back what ``path`` holds.

        Args:
            operator_token: The operator's token (kept by the operator, never here).
            path: Where agent credentials and join tokens are kept (None: in memory only).
        """
        if not operator_token:
            raise ValueError("the operator's token must not be empty")
        self._operator = operator_token
        self._path = path
        self._joins: dict[str, JoinRecord] = {}
        self._agents: dict[str, AgentRecord] = {}
        self._saved_agents: dict[str, str] = {}
        """Each agent record as last saved (JSON): a fleet's joins do not encode every record again each time."""
        self._keys: dict[str, ScopedRecord] = {}
        self._static_join: tuple[str, JoinGrant] | None = None
        self._load()

    # -- who is calling ---------------------------------------------------------------------------------------------

    def authenticate(self, bearer: str) -> Principal:
        """The principal ``bearer`` speaks for.

        Raises:
            CredentialRefusedError: no credential, or one that is unknown, expired, used up or revoked (the reason
                says which, never the secret).
        """
        if not bearer:
            raise CredentialRefusedError("no credential (authorization: Bearer ...)")
        if hmac.compare_digest(bearer.encode(), self._operator.encode()):
            return Principal(Role.OPERATOR, "operator")
        prefix, _, rest = bearer.partition(".")
        if prefix == _AGENT_PREFIX:
            return self._agent_principal(rest)
        if prefix == _JOIN_PREFIX:
            return self._join_principal(rest)
        if prefix == _KEY_PREFIX:
            return self._key_principal(rest)
        if self._static_join is not None and hmac.compare_digest(bearer.encode(), self._static_join[0].encode()):
            return Principal(Role.JOIN, _STATIC_JOIN_ID)
        raise CredentialRefusedError("unknown token")

    def _agent_principal(self, rest: str) -> Principal:
        agent_id, _, secret = rest.rpartition(".")
        record = self._agents.get(agent_id)
        if record is None or not _matches(secret, record.digest):
            raise CredentialRefusedError(f"unknown agent credential for agent {agent_id!r} (issued by another "
                                         "control plane, or this app's credentials were reset)")
        if record.revoked_at is not None:
            raise CredentialRefusedError(f"the credential of agent {record.name} ({agent_id}) was revoked")
        return Principal(Role.AGENT, agent_id)

    def _join_principal(self, rest: str) -> Principal:
        token_id, _, secret = rest.partition(".")
        record = self._joins.get(token_id)
        if record is None or not _matches(secret, record.digest):
            raise CredentialRefusedError("unknown join token")
        if record.expires_at is not None and time.time() > record.expires_at:
            raise CredentialRefusedError(f"join token {token_id} expired")
        if record.uses_left is not None and record.uses_left <= 0 and not self._has_unheld_join(token_id):
            raise CredentialRefusedError(f"join token {token_id} was already used")
        return Principal(Role.JOIN, token_id)

    def _has_unheld_join(self, token_id: str) -> bool:
        """Whether an agent joined with ``token_id`` and has not shown yet that it received its credential."""
        return any(r.joined_with == token_id and not r.holds_credential and r.revoked_at is None
                   for r in self._agents.values())

    def _key_principal(self, rest: str) -> Principal:
        key_id, _, secret = rest.partition(".")
        record = self._keys.get(key_id)
        if record is None or not _matches(secret, record.digest):
            raise CredentialRefusedError("unknown key")
        if record.expires_at is not None and time.time() > record.expires_at:
            raise CredentialRefusedError(f"key {key_id} expired")
        return Principal(Role.SCOPED, record.subject, record.permissions)

    # -- join tokens ----------------------------------------------------------------------------------------------

    def issue_join_token(
        self,
        *,
        ttl_s: float | None = DEFAULT_JOIN_TTL_S,
        uses: int | None = 1,
        agent_name: str = "",
        labels: Mapping[str, str] | None = None,
        scope: str = "",
        is_local: bool = False,
    ) -> IssuedJoinToken:
        """A new join token: what an agent presents once to register and receive its own credential.

        A provider starting an agent for one request asks for ``uses=1`` with ``scope`` set to the request's id:
        the agent that joins with it is known by that scope (:meth:`agent_scope`).

        Args:
            ttl_s: Seconds it stays valid (None: no expiry).
            uses: Registrations it allows (None: unlimited).
            agent_name: The name the agent must register with ("" for any).
            labels: Labels the agent gets (they override its own).
            scope: Free text kept with the agent's credential.
            is_local: Only for lightning-ctl's own local agent.

        Raises:
            ValueError: ``ttl_s`` or ``uses`` is not positive.
        """
        if ttl_s is not None and not ttl_s > 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s!r}")
        if uses is not None and uses < 1:
            raise ValueError(f"uses must be at least 1, got {uses!r}")
        token_id = secrets.token_hex(4)
        while token_id in self._joins:
            token_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        expires_at = time.time() + ttl_s if ttl_s is not None else None
        grant = JoinGrant(agent_name, dict(labels or {}), scope, is_local)
        self._joins[token_id] = JoinRecord(token_id, _digest(secret), grant, expires_at, uses)
        self._save()
        log.info("join_token_issued", token_id=token_id, uses=uses, ttl_s=ttl_s, agent_name=agent_name or None,
                 scope=scope or None, is_local=is_local)
        return IssuedJoinToken(f"{_JOIN_PREFIX}.{token_id}.{secret}", token_id, expires_at)

    def accept_static_join_token(self, token: str) -> None:
        """Accept ``token`` (chosen by the operator, ``--join-token``) for any number of joins while this runs.

        Raises:
            ValueError: it is too short, or it is the operator's token (the two are never interchangeable).
        """
        if len(token) < 16:
            raise ValueError("a join token must be at least 16 characters long")
        if hmac.compare_digest(token.encode(), self._operator.encode()):
            raise ValueError("the join token must differ from the operator's token")
        self._static_join = (token, JoinGrant())

    def revoke_join_token(self, token_id: str) -> bool:
        """Forget a join token that was not used up; whether there was one."""
        found = self._joins.pop(token_id, None) is not None
        if found:
            self._save()
        return found

    def _grant_of(self, token_id: str) -> JoinGrant:
        if token_id == _STATIC_JOIN_ID and self._static_join is not None:
            return self._static_join[1]
        return self._joins[token_id].grant

    # -- agents ---------------------------------------------------------------------------------------------------

    def join(self, token_id: str, agent_id: str, name: str, cert_sha256: str = "") -> tuple[str, AgentRecord]:
        """Register a new agent with join token ``token_id``: its credential (to hand over once) and record.

        The same agent repeating a join whose welcome it never received gets a new credential (see the module's
        docstring).

        Raises:
            CredentialRefusedError: the join token is gone, expired or used up meanwhile.
            CredentialForbiddenError: ``agent_id`` belongs to another registered (or revoked) agent, or the
                token wants another name.
        """
        if token_id != _STATIC_JOIN_ID and token_id not in self._joins:
            raise CredentialRefusedError("unknown join token")
        existing = self._agents.get(agent_id)
        if existing is not None and existing.may_repeat_join(token_id, name, cert_sha256):
            return self._repeat_join(existing)
        if token_id != _STATIC_JOIN_ID:
            uses_left = self._joins[token_id].uses_left
            if uses_left is not None and uses_left <= 0:
                raise CredentialRefusedError(f"join token {token_id} was already used")
        grant = self._grant_of(token_id)
        if grant.agent_name and grant.agent_name != name:
            raise CredentialForbiddenError(f"join token {token_id} is for agent {grant.agent_name!r}, not {name!r}")
        if existing is not None and existing.revoked_at is not None:
            raise CredentialForbiddenError(f"agent {existing.name} ({agent_id}) was revoked: it cannot join again "
                                           "under that identity")
        if existing is not None:
            raise CredentialForbiddenError(f"agent id {agent_id} already belongs to agent {existing.name}: an agent "
                                           "joins once, then uses its own credential (kept in its state dir)")
        if token_id != _STATIC_JOIN_ID:
            join_record = self._joins[token_id]
            if join_record.uses_left is not None:
                join_record.uses_left -= 1  # kept at 0 until it expires: a second use is refused as "already used"
        secret = secrets.token_urlsafe(32)
        agent = AgentRecord(agent_id, name, _digest(secret), grant, time.time(), token_id, cert_sha256,
                            holds_credential=False)
        self._agents[agent_id] = agent
        self._save()
        log.info("agent_joined", agent_id=agent_id, name=name, token_id=token_id, scope=grant.scope or None,
                 bound_to_certificate=bool(cert_sha256))
        return f"{_AGENT_PREFIX}.{agent_id}.{secret}", agent

    def _repeat_join(self, agent: AgentRecord) -> tuple[str, AgentRecord]:
        """A new credential for an agent whose join went through but whose welcome was lost (the old one goes)."""
        secret = secrets.token_urlsafe(32)
        agent.digest = _digest(secret)
        agent.issued_at = time.time()
        self._save(changed=agent)
        log.warning("agent_join_repeated", agent_id=agent.agent_id, name=agent.name, token_id=agent.joined_with,
                    reason="it never showed it received the credential of its join (a welcome lost with the "
                           "control plane or the connection)")
        return f"{_AGENT_PREFIX}.{agent.agent_id}.{secret}", agent

    def credential_held(self, agent_id: str) -> None:
        """Agent ``agent_id`` showed it holds its credential: its join can no longer be repeated."""
        record = self._agents.get(agent_id)
        if record is not None and not record.holds_credential:
            record.holds_credential = True
            self._save(changed=record)
            log.info("agent_credential_held", agent_id=agent_id, name=record.name, token_id=record.joined_with)

    def agent(self, agent_id: str) -> AgentRecord:
        """The record of a registered agent (KeyError when there is none)."""
        return self._agents[agent_id]

    def check_agent(self, principal: Principal, agent_id: str, cert_sha256: str = "") -> AgentRecord:
        """That ``principal`` (an agent credential) may act as ``agent_id`` with this client certificate.

        Raises:
            CredentialForbiddenError: the credential is another agent's, or bound to another certificate.
        """
        if principal.role is not Role.AGENT:
            raise CredentialForbiddenError(f"a {principal.role.value} credential is not an agent credential")
        if principal.subject != agent_id:
            raise CredentialForbiddenError(f"this credential belongs to agent {principal.subject}, not {agent_id}: "
                                           "an agent cannot register with another agent's identity")
        record = self._agents[agent_id]
        if record.cert_sha256 and not hmac.compare_digest(record.cert_sha256, cert_sha256):
            raise CredentialForbiddenError(f"the credential of agent {record.name} is bound to the client certificate "
                                           "it joined with; this connection presents another one (or none)")
        self.credential_held(agent_id)
        return record

    def agent_scope(self, agent_id: str) -> str:
        """The scope of the join token agent ``agent_id`` registered with ("" when none or unknown)."""
        record = self._agents.get(agent_id)
        return record.grant.scope if record is not None else ""

    def agents(self) -> list[AgentRecord]:
        """Every agent that joined, revoked ones included."""
        return list(self._agents.values())

    def revoke_agent(self, name_or_id: str) -> AgentRecord:
        """Revoke the credential of the agent with this id (or this name, if that names exactly one).

        Raises:
            AgentNotFoundError: no agent, or several, answer to ``name_or_id``.
        """
        record = self._agents.get(name_or_id)
        if record is None:
            named = [r for r in self._agents.values() if r.name == name_or_id and r.revoked_at is None]
            if not named:
                raise AgentNotFoundError(f"no agent is named {name_or_id!r} (known: "
                                         f"{', '.join(sorted(r.name for r in self._agents.values())) or 'none'})")
            if len(named) > 1:
                raise AgentNotFoundError(f"{len(named)} agents are named {name_or_id!r}: revoke one by its id "
                                         f"({', '.join(r.agent_id for r in named)})")
            record = named[0]
        if record.revoked_at is None:
            record.revoked_at = time.time()
            self._save(changed=record)
            log.warning("agent_revoked", agent_id=record.agent_id, name=record.name)
        return record

    # -- scoped keys ----------------------------------------------------------------------------------------------

    def issue_scoped_key(self, subject: str, permissions: Iterable[str], ttl_s: float | None = None,
                         keep: bool = False) -> str:
        """A key that allows ``permissions`` only (e.g. ``{"api"}`` for a work calling the app's REST API).

        Args:
            subject: Who holds it, for logs and checks (e.g. ``work:root.trainer``).
            permissions: What it allows; checked by whoever serves them (:meth:`Principal.permissions`).
            ttl_s: Seconds it stays valid (None: no expiry).
            keep: Keep it (its digest) in the store's file, valid after a restart of the control plane, for holders
                that outlive one (works) until :meth:`forget_scoped_keys`; otherwise it lives in memory only.
        """
        key_id = secrets.token_hex(4)
        while key_id in self._keys:
            key_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        expires_at = time.time() + ttl_s if ttl_s is not None else None
        self._keys[key_id] = ScopedRecord(key_id, _digest(secret), subject, frozenset(permissions), expires_at, keep)
        if keep:
            self._save()
        log.info("scoped_key_issued", key_id=key_id, subject=subject, permissions=sorted(permissions), kept=keep)
        return f"{_KEY_PREFIX}.{key_id}.{secret}"

    def forget_scoped_keys(self, subject: str) -> int:
        """Revoke every key issued to ``subject`` (kept ones too); how many there were."""
        gone = [key_id for key_id, record in self._keys.items() if record.subject == subject]
        kept = any(self._keys[key_id].kept for key_id in gone)
        for key_id in gone:
            del self._keys[key_id]
        if kept:
            self._save()
        return len(gone)

    # -- persistence ----------------------------------------------------------------------------------------------

    def _load(self) -> None:
        if self._path is None:
            return
        try:
            data = json.loads(self._path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.error("credentials_unreadable", path=str(self._path), error=str(exc),
                      hint="agents must join again (lightning-ctl agents join-token)")
            return
        for entry in data.get("agents", []):
            grant = JoinGrant(**entry.pop("grant"))
            agent = AgentRecord(**entry, grant=grant)
            self._agents[agent.agent_id] = agent
        now = time.time()
        for entry in data.get("join_tokens", []):
            grant = JoinGrant(**entry.pop("grant"))
            record = JoinRecord(**entry, grant=grant)
            if record.expires_at is None or record.expires_at > now:
                self._joins[record.token_id] = record
        for entry in data.get("scoped_keys", []):
            key = ScopedRecord(**{**entry, "permissions": frozenset(entry["permissions"])})
            if key.expires_at is None or key.expires_at > now:
                self._keys[key.key_id] = key

    def _save(self, changed: AgentRecord | None = None) -> None:
        """Write the store; ``changed``: an agent record changed in place since it was last saved."""
        if changed is not None:
            self._saved_agents.pop(changed.agent_id, None)
        if self._path is None:
            return
        agents = self._saved_agents
        for agent_id, record in self._agents.items():
            if agent_id not in agents:
                agents[agent_id] = json.dumps(asdict(record))
        rest = {
            "join_tokens": [asdict(record) for record in self._joins.values()],
            "scoped_keys": [{**asdict(record), "permissions": sorted(record.permissions)}
                            for record in self._keys.values() if record.kept],
        }
        text = json.dumps(rest, indent=1)
        write_atomic(self._path, '{"agents": [\n' + ",\n".join(agents[a] for a in self._agents) + "\n],\n" + text[2:])


def with_labels(labels: dict[str, str], grant: JoinGrant) -> dict[str, str]:
    """An agent's own labels with those its join token granted (the grant's win)."""
    return {**labels, **grant.labels} if grant.labels else labels


__all__ = [
    "DEFAULT_JOIN_TTL_S",
    "AgentRecord",
    "CredentialStore",
    "IssuedJoinToken",
    "JoinGrant",
    "Principal",
    "Role",
    "certificate_fingerprint",
    "with_labels",
]
