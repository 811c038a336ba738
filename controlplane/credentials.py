"""The operator's token (kept for reuse with owner-only permissions) and TLS server credentials.

Agent credentials and join tokens live in :mod:`lightning_ctl.controlplane.credential_store`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lightning_ctl.controlplane.home import token_file
from lightning_ctl.sdk._files import read_or_create

if TYPE_CHECKING:
    import grpc

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def load_or_create_token(path: Path | None = None) -> str:
    """The token stored at ``path`` (default: the operator's token file).

    A new one is generated and stored (mode 0600) when there is none.
    """
    return read_or_create(path or token_file(), lambda: secrets.token_urlsafe(32))


@dataclass(frozen=True)
class TlsFiles:
    """PEM files for serving TLS; with ``ca``, clients must present a certificate signed by it (mutual TLS)."""

    cert: str
    key: str
    ca: str | None = None

    def server_credentials(self) -> grpc.ServerCredentials:
        """The gRPC server's credentials, from the certificate and key files."""
        import grpc  # here, not at the top: the CLI reads the token before importing gRPC

        ca = Path(self.ca).read_bytes() if self.ca else None
        return grpc.ssl_server_credentials(
            [(Path(self.key).read_bytes(), Path(self.cert).read_bytes())],
            root_certificates=ca,
            require_client_auth=ca is not None,
        )
