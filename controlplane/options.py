"""RunOptions: what ``lightning-ctl run`` was asked to do (light to import: the CLI builds it before gRPC loads)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lightning_ctl.controlplane.credentials import TlsFiles
from lightning_ctl.controlplane.providers.settings import ProviderSettings
from lightning_ctl.protos.limits import DEFAULT_MAX_ATTRIBUTE_BYTES


@dataclass(frozen=True)
class RunOptions:
    """What ``lightning-ctl run`` was asked to do."""

    app_path: str
    host: str = "127.0.0.1"
    port: int = 0
    token: str = ""
    env: dict[str, str] = field(default_factory=dict)
    stop_grace_s: float = 30.0
    work_ports: tuple[int, int] | None = None
    """The first and last port the local agent gives its works (``--work-ports``); None: any free port."""
    log_level: str = "info"
    heartbeat_interval_s: float = 2.0
    tls: TlsFiles | None = None
    agent_lost_grace_s: float = 60.0
    """How long an agent may stay disconnected before its works count as lost (per work: RestartPolicy)."""
    fresh: bool = False
    """Start over even if the previous run of this app file did not end."""
    http: bool = True
    """Serve the view and the REST API over HTTP."""
    http_port: int | None = None
    """The HTTP port: None for 7501 or the next free one, 0 for any free port."""
    http_allowed_hosts: tuple[str, ...] = ()
    """Host names HTTP requests may be addressed to, besides IP addresses, loopback names and this machine's."""
    storage_url: str | None = None
    """Where the app's store is (a folder or an fsspec URL); None: a folder of the app's home."""
    storage_options: dict[str, str] = field(default_factory=dict)
    """Keyword arguments for the store's fsspec filesystem (e.g. ``endpoint_url``)."""
    join_token: str = ""
    """A join token agents may use any number of times while the app runs ("" for none: issue them with
    ``lightning-ctl agents join-token``)."""
    max_attribute_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES
    """The largest JSON value a work's attribute may take."""
    provider: ProviderSettings | None = None
    """Agents on demand from an engine (``--provider``); None: only the agents that join by themselves."""
