"""The lightning-ctl error tree: every error the SDK raises descends from :class:`LightningError`.

Errors that carry context take the message first and the context as keyword arguments, and keep
that context as attributes (``work_name``, ``path``...). All of them survive pickling, context
included.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AppImportError",
    "AppStateError",
    "ArtifactNotFoundError",
    "AttributeTooLargeError",
    "CacheMissException",
    "DeltaError",
    "ExitAppException",
    "InvalidReturnValueError",
    "LightningError",
    "LightningFlowException",
    "LightningWorkException",
    "MisconfigurationException",
    "StateNotSerializableError",
    "TransferError",
    "WorkFailedError",
]


def _rebuild(cls: type[BaseException], args: tuple, attributes: dict[str, Any]) -> BaseException:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(attributes)
    return error


class LightningError(Exception):
    """Root of every error raised by lightning-ctl."""

    def __reduce__(self) -> tuple[Any, ...]:
        # The default reduce calls cls(*args), which fails for keyword-only context arguments.
        return _rebuild, (type(self), self.args, dict(self.__dict__))


class AppImportError(LightningError):
    """The app file could not be imported, or defines no app."""

    def __init__(self, message: str, *, path: str, lineno: int | None = None) -> None:
        """Create the error.

        Args:
            message: What went wrong; should name the file.
            path: Path of the app file.
            lineno: Line of the app file at fault, when known.
        """
        super().__init__(message)
        self.path = path
        self.lineno = lineno


class StateNotSerializableError(LightningError, AttributeError):
    """A component attribute that is state was given a value that can't be serialized as JSON.

    Also an ``AttributeError``, since it is raised by attribute assignment.
    """

    def __init__(self, message: str, *, component_name: str, attribute: str) -> None:
        """Create the error.

        Args:
            message: What went wrong; should name the component and attribute.
            component_name: Name of the component, such as ``root.trainer``.
            attribute: Name of the attribute.
        """
        super().__init__(message)
        self.component_name = component_name
        self.attribute = attribute


class AttributeTooLargeError(LightningError, ValueError):
    """A state attribute was given a value whose JSON is larger than the app allows.

    Raised by the assignment in the work's process, which leaves the attribute as it was.
    """

    def __init__(self, message: str, *, component_name: str, attribute: str, size: int, limit: int) -> None:
        """Create the error.

        Args:
            message: What went wrong; names the component, the attribute and the limit.
            component_name: Name of the component, such as ``root.trainer``.
            attribute: Name of the attribute.
            size: Bytes of the value's JSON.
            limit: The largest allowed, in bytes (``lightning-ctl run --max-attribute-size``).
        """
        super().__init__(message)
        self.component_name = component_name
        self.attribute = attribute
        self.size = size
        self.limit = limit


class WorkFailedError(LightningError):
    """A work's call failed, and the app was configured to fail with it."""

    def __init__(self, message: str, *, work_name: str, reason: str | None = None) -> None:
        """Create the error.

        Args:
            message: What went wrong, such as the user's traceback text.
            work_name: Name of the work, such as ``root.trainer``.
            reason: A ``WorkFailureReasons`` value, when known.
        """
        super().__init__(message)
        self.message = message
        self.work_name = work_name
        self.reason = reason


class MisconfigurationException(LightningError):
    """An app, flow or work was configured in a way that can't work."""


class CacheMissException(LightningError):
    """Internal: ends a flow's ``run()`` at a call to a non-parallel work that hasn't finished yet."""


class ExitAppException(LightningError):
    """Raised by ``flow.stop()`` to end the app successfully."""


class LightningFlowException(LightningError):
    """Raised by ``flow.fail()`` to end the app as failed."""


class LightningWorkException(LightningError):
    """A work was used in a way the runtime does not allow."""


class InvalidReturnValueError(LightningError):
    """A work's ``run()`` returned a value that isn't allowed (it must return None)."""


class TransferError(LightningError, OSError):
    """A file could not be moved between works (or to or from the app's store); the message says why."""

    def __init__(self, message: str, *, work_name: str = "", path: str = "", origin_name: str = "") -> None:
        """Create the error.

        Args:
            message: What went wrong; names the work, the path and the cause.
            work_name: The work that asked for the file, such as ``root.consumer``.
            path: The Path (or the Payload's or Drive's name) at fault.
            origin_name: The work that made it, such as ``root.producer``, when known.
        """
        super().__init__(message)
        self.work_name = work_name
        self.path = path
        self.origin_name = origin_name

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ArtifactNotFoundError(TransferError, FileNotFoundError):
    """The file is neither in the app's store nor obtainable from the work that made it."""


class AppStateError(LightningError, AttributeError):
    """The app's state could not be read or written through ``AppState``.

    The message says why; an AttributeError, as before.
    """


class DeltaError(LightningError, ValueError):
    """A state delta that cannot be read or applied; the message names the path at fault."""
