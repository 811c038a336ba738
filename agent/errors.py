"""The agent's errors, rooted in the SDK's :class:`~lightning_ctl.sdk.errors.LightningError`.

Each carries what the message names (a digest, an address) as attributes, and the exit status it ends
``lightning-agent`` with when it is fatal.
"""

from __future__ import annotations

from lightning_ctl.sdk._exit_codes import ExitCode
from lightning_ctl.sdk._storage_types import FailureKind
from lightning_ctl.sdk.errors import LightningError


class AgentError(LightningError):
    """Root of the agent's own errors."""

    exit_code: int = ExitCode.FAILED


class AgentHomeInUseError(AgentError):
    """Another live agent runs from the home this one was told to use (it owns that home's socket and works)."""


class BundleError(AgentError):
    """A code bundle could not be fetched, verified or unpacked (or passed a limit)."""

    def __init__(self, message: str, *, digest: str | None = None) -> None:
        """Create the error.

        Args:
            message: What went wrong; names the digest and the limit passed, if any.
            digest: The bundle's digest, when it is a valid one.
        """
        super().__init__(message)
        self.digest = digest


class FrameTooLargeError(AgentError, ValueError):
    """A frame on the socket between the agent and a work process passed the size limit."""


class RegistrationRefusedError(AgentError):
    """The control plane refused this agent for good: its credential, or its protocol version."""

    def __init__(self, message: str, *, address: str, exit_code: int = ExitCode.AUTH_REFUSED) -> None:
        """Create the error.

        Args:
            message: Why, as the control plane said it, and what to do.
            address: The control plane's HOST:PORT.
            exit_code: What ``lightning-agent`` exits with (4 for a refused credential, 1 otherwise).
        """
        super().__init__(message)
        self.address = address
        self.exit_code = exit_code


class TransferFailure(AgentError):
    """A work's storage request could not be served (a file copied, persisted, found); the message says why."""

    def __init__(self, message: str, *, kind: FailureKind = FailureKind.TRANSFER, changed: bool = False) -> None:
        """Create the error.

        Args:
            message: What went wrong, naming the work, the path and the cause.
            kind: How it failed, as the work process is told.
            changed: The bytes sent did not match their digest: the file changed while it was read.
        """
        super().__init__(message)
        self.kind = kind
        self.changed = changed


class PortUnavailableError(AgentError):
    """A work cannot get a port on this agent: the one it asked for is in use, or every port of the range is."""
