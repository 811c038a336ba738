"""The control plane's errors, rooted in the SDK's :class:`~lightning_ctl.sdk.errors.LightningError`.

Errors carry what their message names (a work, an agent, a folder, an address) as attributes; those the operator's
client raises also carry the exit status of the command that met them.
"""

from __future__ import annotations

from lightning_ctl.sdk._exit_codes import ExitCode
from lightning_ctl.sdk.errors import LightningError


class ControlPlaneError(LightningError):
    """Root of the control plane's own errors."""


# -- running an app -------------------------------------------------------------------------------------------------


class PortInUseError(ControlPlaneError, OSError):
    """The requested address could not be bound."""


class AppAlreadyRunningError(ControlPlaneError):
    """The app file is being run by another live control plane."""


class CheckpointError(ControlPlaneError):
    """The app's checkpoint could not be read or written; the message names the file and the cause."""

    def __init__(self, message: str, *, path: str) -> None:
        """Create the error.

        Args:
            message: What went wrong, naming the file.
            path: The checkpoint's file.
        """
        super().__init__(message)
        self.path = path


class CheckpointCorruptError(CheckpointError):
    """The checkpoint is damaged: corrupt, truncated, or missing its write-ahead log."""


class NoRunningAppError(ControlPlaneError):
    """No run file names a live control plane on this machine."""


class AppEndedError(ControlPlaneError):
    """The app has ended (or is not running yet): the flow thread answers no more queries."""


class FlowBusyError(ControlPlaneError):
    """The flow thread did not answer in time: a flow's ``run()`` is taking long."""


class WorkNameError(ControlPlaneError):
    """A WORK given by the user names no work, or several."""

    def __init__(self, message: str, *, pattern: str, candidates: tuple[str, ...] = ()) -> None:
        """Create the error.

        Args:
            message: What went wrong, naming ``pattern``.
            pattern: The name the user gave.
            candidates: The works it matches (when ambiguous).
        """
        super().__init__(message)
        self.pattern = pattern
        self.candidates = candidates


class BundleTooLargeError(ControlPlaneError):
    """The app's folder does not fit in a bundle of the allowed size."""

    def __init__(
        self, message: str, *, folder: str, size: int, limit: int, largest: tuple[tuple[str, int], ...] = ()
    ) -> None:
        """Create the error.

        Args:
            message: What went wrong; names the folder, the size, the limit and the largest entries.
            folder: The app's folder.
            size: The size that passed the limit (compressed bytes, unpacked bytes or entries).
            limit: The limit passed.
            largest: The largest top-level entries included, as ``(relative path, uncompressed bytes)``;
                directories end with ``/``.
        """
        super().__init__(message)
        self.folder = folder
        self.size = size
        self.limit = limit
        self.largest = largest


# -- serving the app over HTTP --------------------------------------------------------------------------------------


class HttpPortInUseError(PortInUseError):
    """The HTTP port asked for (``--http-port``), or every port tried, could not be bound."""


class AppServeError(ControlPlaneError):
    """The app's routes or frontends cannot be served (the message names the route or flow)."""


class LayoutError(ControlPlaneError, ValueError):
    """A configure_layout() returned something that is not a layout; the message names the flow."""


class RoutesError(ControlPlaneError, ValueError):
    """configure_api() or configure_commands() returned something that cannot be served; names the route."""


# -- credentials ----------------------------------------------------------------------------------------------------


class TunnelError(ControlPlaneError):
    """A connection to a work's server through its agent could not be opened (the message says why)."""


class CredentialError(ControlPlaneError):
    """A credential was refused (unknown, expired, used up, revoked) or may not do what was asked."""


class CredentialRefusedError(CredentialError):
    """No valid credential: the caller is not authenticated (UNAUTHENTICATED on the wire)."""


class CredentialForbiddenError(CredentialError):
    """A valid credential that may not do this (PERMISSION_DENIED on the wire)."""


class AgentNotFoundError(ControlPlaneError):
    """No agent (or several) answers to the name given."""


# -- the app's store ------------------------------------------------------------------------------------------------


class StorageFault(ControlPlaneError):
    """A storage request cannot be served; ``code`` says how (the servicer maps it to a gRPC status)."""

    NOT_FOUND = "not_found"
    EXISTS = "exists"
    INVALID = "invalid"
    RESUME_ELSEWHERE = "resume_elsewhere"
    NO_SPACE = "no_space"
    CORRUPT = "corrupt"

    def __init__(self, message: str, *, code: str) -> None:
        """Create the fault.

        Args:
            message: What went wrong, naming the work, the path and the cause.
            code: One of the class's codes.
        """
        super().__init__(message)
        self.code = code


class StoreError(ControlPlaneError):
    """What was asked is not in the store (or cannot be written locally); the message says what and why."""


# -- agents on demand (--provider) ----------------------------------------------------------------------------------


class ProviderError(ControlPlaneError):
    """The engine refused or failed an operation; the message says what the engine said."""


class ProviderOptionError(ControlPlaneError, ValueError):
    """A ``--provider-option`` is malformed, unknown to the engine, or has a bad value (the message names it)."""


# -- the operator's client ------------------------------------------------------------------------------------------


class ClientError(ControlPlaneError):
    """A call to the control plane failed; ``exit_code`` is what the CLI exits with."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, *, address: str = "") -> None:
        """Create the error.

        Args:
            message: One line for the user, naming the address or the thing at fault.
            address: The control plane's HOST:PORT.
        """
        super().__init__(message)
        self.address = address


class ControlPlaneUnreachableError(ClientError):
    """Nothing answers at the address, or the connection broke (exit status 3)."""

    exit_code = ExitCode.UNREACHABLE


class TokenRefusedError(ClientError):
    """The control plane refused the token (exit status 4)."""

    exit_code = ExitCode.AUTH_REFUSED


class InvalidRequestError(ClientError):
    """The control plane rejected what was asked, e.g. a WORK that names no work or several (exit status 2)."""

    exit_code = ExitCode.USAGE


class OperationFailedError(ClientError):
    """The control plane could not do it, e.g. the app has ended (exit status 1)."""

    exit_code = ExitCode.FAILED
