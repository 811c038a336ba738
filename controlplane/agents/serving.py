"""ServingWorks.

Where each work's server is, as its agent reported it (asyncio thread): what the proxy at ``/works/<name>/`` connects
to.

Filled from the agents' ``WorkEndpoint`` reports as they arrive (before the flow thread applies them), and emptied
of a work when its process exits. After a restart of the control plane the agents report them again as they
reconnect, so nothing here needs saving.
"""

from __future__ import annotations

from dataclasses import dataclass

from lightning_ctl.sdk._events import WorkEndpoint

PROXY_PREFIX = "/works/"
"""Where the control plane's HTTP server serves each work's server: ``/works/<work name>/``."""


def proxy_path(work_name: str) -> str:
    """The path of ``work_name``'s server on the control plane's HTTP address."""
    return f"{PROXY_PREFIX}{work_name}/"


@dataclass(frozen=True, slots=True)
class ServingWork:
    """One work's server: which agent runs it, and its endpoint."""

    work_name: str
    attempt: int
    agent_id: str
    endpoint: WorkEndpoint

    @property
    def is_ready(self) -> bool:
        """Whether its server answered (its ``url`` is set)."""
        return bool(self.endpoint.url)


class ServingWorks:
    """The latest endpoint of each work's current process."""

    def __init__(self) -> None:
        self._works: dict[str, ServingWork] = {}

    def record(self, agent_id: str, work_name: str, attempt: int, endpoint: WorkEndpoint) -> None:
        """The agent ``agent_id`` reported the endpoint of (work_name, attempt); an older attempt's is ignored."""
        current = self._works.get(work_name)
        if endpoint.error or (current is not None and current.attempt > attempt):
            return
        self._works[work_name] = ServingWork(work_name, attempt, agent_id, endpoint)

    def forget(self, work_name: str, attempt: int) -> None:
        """The process of (work_name, attempt) exited: its server is gone."""
        current = self._works.get(work_name)
        if current is not None and current.attempt == attempt:
            del self._works[work_name]

    def get(self, work_name: str) -> ServingWork | None:
        """The server of ``work_name``, if its process has a port."""
        return self._works.get(work_name)

    def on_agent_port(self, agent_id: str, port: int) -> ServingWork | None:
        """The work of agent ``agent_id`` whose server listens on ``port``."""
        return next((w for w in self._works.values() if w.agent_id == agent_id and w.endpoint.port == port), None)

    def names(self) -> list[str]:
        """The works that have a server, sorted."""
        return sorted(self._works)
