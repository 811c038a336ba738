"""What ``lightning-ctl run`` says on the console about itself: a few lines saying where the app is.

Everything else the control plane has to say about its own lifecycle goes through structlog, shown on the console
from ``--log-level info`` on (warnings and errors always), so that the app's own output is not drowned. The banner
is printed on stderr (the works' lines go to stdout), and carries no secret: agents get a join token from
``lightning-ctl agents join-token``, the view's one-time login link is printed once the view serves it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TextIO

STARTING = "Your Lightning App is starting. This won't take long."
"""The former framework's first line, printed before the app file loads."""


@dataclass(frozen=True, slots=True)
class Whereabouts:
    """Where a running app can be reached."""

    app_path: str
    """The app file, as given on the command line."""
    host: str
    """The control plane's host as agents dial it (a name, or an IPv4 or IPv6 address)."""
    port: int
    """Its gRPC port."""
    is_loopback: bool
    """Whether it listens on loopback only (agents on this machine only)."""
    has_tls: bool
    """Whether it serves TLS (agents then need the CA: ``--tls-ca``)."""

    @property
    def address(self) -> str:
        """HOST:PORT, an IPv6 address in brackets."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def print_starting(out: TextIO | None = None) -> None:
    """The first line of a run, before anything is loaded."""
    _write(STARTING, out)


def print_whereabouts(where: Whereabouts, out: TextIO | None = None) -> None:
    """Where the app is, how an agent joins it and how to watch it (once its server listens)."""
    reach = ", this machine only: --host 0.0.0.0 with --tls-cert for others" if where.is_loopback else ""
    tls = " --tls-ca CA.pem" if where.has_tls else ""
    _write(
        f"App {where.app_path}: control plane on {where.address} (gRPC{reach})\n"
        f"  add an agent: LIGHTNING_AGENT_JOIN_TOKEN=$(lightning-ctl agents join-token) "
        f"lightning-agent --control-plane {where.address}{tls}\n"
        "  watch it:     lightning-ctl status, lightning-ctl logs -f, lightning-ctl stop",
        out,
    )


def _write(text: str, out: TextIO | None) -> None:
    stream = out or sys.stderr
    try:
        stream.write(text + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass  # the console is gone: the app goes on
