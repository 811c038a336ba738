"""RunOptions: what ``lightning-ctl run`` was asked to do (light to import: the CLI builds it before gRPC loads)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lightning_ctl.controlplane.credentials import TlsFiles
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
    log_level: str = "info"
    heartbeat_interval_s: float = 2.0
    tls: TlsFiles | None = None
    agent_lost_grace_s: float = 60.0
    """How long an agent may stay disconnected before its works count as lost (per work: RestartPolicy)."""
    fresh: bool = False
    """Start over even if the previous run of this app file did not end."""
    storage_url: str | None = None
    """Where the app's store is (a folder or an fsspec URL); None: a folder of the app's home."""
    storage_options: dict[str, str] = field(default_factory=dict)
    """Keyword arguments for the store's fsspec filesystem (e.g. ``endpoint_url``)."""
    join_token: str = ""
    """A join token agents may use any number of times while the app runs ("" for none: issue them with
    ``lightning-ctl agents join-token``)."""
    max_attribute_bytes: int = DEFAULT_MAX_ATTRIBUTE_BYTES
    """The largest JSON value a work's attribute may take."""
