"""ProviderManager with the control plane's real registry and credential store, and an engine that records what it
is asked: each request's agent joins with a one-time join token scoped to the request, is known by that scope,
and the token is revoked once the agent joined or the request ended."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Callable, Sequence

from lightning_ctl.controlplane.agents.placement import AgentCapacity
from lightning_ctl.controlplane.agents.registry import AgentRegistry, AgentSession
from lightning_ctl.controlplane.credential_store import CredentialStore, Role
from lightning_ctl.controlplane.errors import CredentialRefusedError
from lightning_ctl.controlplane.providers.base import AgentLaunch, EngineState, EngineStatus
from lightning_ctl.controlplane.providers.manager import ProviderManager
from lightning_ctl.controlplane.providers.settings import ProviderSettings
from lightning_ctl.sdk._events import LaunchWork, ResourceRequest

DEADLINE_S = 30.0


class RecordingEngine:
    """An engine whose jobs start at once; it keeps every launch it was given and every release."""

    engine = "local"

    def __init__(self) -> None:
        self.launches: list[AgentLaunch] = []
        self.released: list[str] = []

    async def submit(self, launch: AgentLaunch) -> str:
        self.launches.append(launch)
        return f"job-{len(self.launches)}"

    async def poll(self, engine_ids: Sequence[str]) -> dict[str, EngineStatus]:
        return {engine_id: EngineStatus(EngineState.RUNNING) for engine_id in engine_ids}

    async def release(self, engine_ids: Sequence[str]) -> None:
        self.released.extend(engine_ids)

    def close(self) -> None:
        pass


async def until(condition: Callable[[], object], what: str) -> None:
    deadline = asyncio.get_running_loop().time() + DEADLINE_S
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


class Rig:
    def __init__(self, folder: Path) -> None:
        self.registry = AgentRegistry()
        self.credentials = CredentialStore("operator-token-0123456789", folder / "credentials.json")
        self.engine = RecordingEngine()
        self.manager = ProviderManager(self.engine, ProviderSettings("local", {"poll-interval": "0.1"}),
                                       self.registry, lambda event: None, folder, self.credentials)

    async def first_launch(self) -> AgentLaunch:
        """Start the manager, make a 1-GPU work wait for an agent; the launch the engine got for it."""
        await self.manager.start("cp:7000", resumed=False)
        self.registry.route([LaunchWork("root.w", 1, "/app.py", {}, resources=ResourceRequest(gpus=1))])
        await until(lambda: self.engine.launches, "the engine to be asked for an agent")
        return self.engine.launches[0]

    def join(self, launch: AgentLaunch, agent_id: str = "agent-1") -> None:
        """What the agent service does when the agent presents its join token, then registers."""
        token_id = launch.join_token.split(".")[1]
        _, record = self.credentials.join(token_id, agent_id, f"slurm-{agent_id}")
        capacity = AgentCapacity(agent_id, f"slurm-{agent_id}", 4, 2**33, (0,), is_local=True)
        self.registry.add(AgentSession(capacity, hostname="n1", scope=record.grant.scope))


def test_the_agent_joins_with_a_one_time_token_scoped_to_its_request(tmp_path: Path) -> None:
    """The engine gets a join token (never the operator's) scoped to the request; the agent that joins with it is
    counted as the request's agent, and the token is gone once it joined."""

    async def scenario() -> None:
        rig = Rig(tmp_path)
        launch = await rig.first_launch()
        assert rig.credentials.authenticate(launch.join_token).role is Role.JOIN
        assert "--join-token" not in launch.agent_args and launch.join_token not in " ".join(launch.agent_args)
        rig.join(launch)
        assert rig.credentials.agent_scope("agent-1") == launch.request_id
        await until(lambda: rig.manager.views()[0].state == "joined", "the request to show its agent joined")
        # Seen joined and revoked in the same pass: it was used up, and is now gone from the store too.
        assert not rig.credentials.revoke_join_token(launch.join_token.split(".")[1])
        await rig.manager.stop()

    asyncio.run(scenario())


def test_the_join_token_of_a_request_that_ends_unjoined_is_revoked(tmp_path: Path) -> None:
    """When the app ends before the agent joined, its job is released and its join token no longer admits anyone
    (also not a second agent of the same request)."""

    async def scenario() -> None:
        rig = Rig(tmp_path)
        launch = await rig.first_launch()
        await rig.manager.stop()
        assert rig.engine.released == ["job-1"]
        assert not _valid(rig.credentials, launch.join_token)

    asyncio.run(scenario())


def _valid(credentials: CredentialStore, token: str) -> bool:
    try:
        credentials.authenticate(token)
    except CredentialRefusedError:
        return False
    return True
