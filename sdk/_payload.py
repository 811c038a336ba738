"""Payload: a Python object handed from one work to another, pickled (trusted code only).

This is the one place where pickle crosses machines, and only because the app asks for it: a Payload is loaded by
``pickle``, which runs whatever code the pickle names. Use it between works of the same app (the same authors); never
to carry data from anyone else. Everything else travels as JSON.

A work assigns ``self.result = Payload(obj)`` inside its ``run()`` (the attribute declared in ``__init__``, e.g. as
None); the value is saved with :meth:`Payload.save` and persisted to the app's store after each successful call and
when the work stops. In the flow only the metadata exists (``payload.value is None``); a work that gets the Payload
as a ``run()`` argument has its value loaded before ``run()`` starts, or calls :meth:`Payload.get`.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from lightning_ctl.sdk._storage import PAYLOAD_KIND, Handed, get_storage, require_work_process

if TYPE_CHECKING:
    from lightning_ctl.sdk._component import StateAttributes

__all__ = ["Payload"]

PAYLOAD_TYPE = "__payload__"
"""The ``type`` tag of a Payload in the state's JSON."""


class _BasePayload(Handed, ABC):
    """A value that travels between works as a file made by :meth:`save` and read back by :meth:`load`."""

    def __init__(self, value: Any) -> None:
        """Wrap ``value``."""
        self._value = value
        self._name: str | None = None
        self._origin: StateAttributes | str | None = None
        self._consumer: StateAttributes | str | None = None
        self._metadata: dict[str, Any] = {}

    @property
    def name(self) -> str | None:
        """The attribute holding it in its origin work."""
        return self._name

    @property
    def value(self) -> Any:
        """The object (None in the flow, and in a consumer until it was got)."""
        return self._value

    @property
    def hash(self) -> str | None:
        """Identifies (origin, consumer, name); None while it has no origin."""
        if self._origin is None:
            return None
        return hashlib.sha1(f"{self.origin_name}/{self.consumer_name}/{self.name}".encode()).hexdigest()

    @abstractmethod
    def save(self, obj: Any, path: str) -> None:
        """Write ``obj`` to the file ``path`` (override to change the format)."""

    @abstractmethod
    def load(self, path: str) -> Any:
        """Read the object back from the file ``path``."""

    def _attach_work(self, work: StateAttributes, name: str | None = None) -> None:
        super()._attach_work(work)
        if name is not None and self._name is None:
            self._name = name

    def exists_remote(self) -> bool:
        """Whether the origin persisted this Payload.

        Raises:
            RuntimeError: it has no origin, or this is the flow's process.
        """
        self._check_transferable("exists_remote")
        return get_storage().artifact_exists(self.origin_name or "", PAYLOAD_KIND, self._name or "")

    def get(self) -> Any:
        """Load the value the origin persisted, and keep it in :attr:`value`.

        Raises:
            RuntimeError: called in the flow's process, or the Payload has no origin.
            lightning_ctl.sdk.errors.ArtifactNotFoundError: the origin never persisted it.
            lightning_ctl.sdk.errors.TransferError: the copy failed.
        """
        import shutil
        import tempfile

        self._check_transferable("get")
        folder = tempfile.mkdtemp(prefix="lightning-payload-")
        try:
            destination = os.path.join(folder, "value")
            get_storage().fetch(self.origin_name or "", PAYLOAD_KIND, self._name or "", destination)
            self._value = self.load(destination)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return self._value

    def _check_transferable(self, method: str) -> None:
        require_work_process(f"Payload.{method}()")
        if self._origin is None or not self._name:
            raise RuntimeError(
                f"Payload.{method}(): the Payload is not attached to a work: assign it to a work's attribute in "
                "its run()"
            )

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "origin_name", "consumer_name", "metadata"}`` (never the value)."""
        return {
            "name": self.name,
            "origin_name": self.origin_name,
            "consumer_name": self.consumer_name,
            "metadata": self._metadata,
        }

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> _BasePayload:
        """A Payload without its value, from what :meth:`to_dict` holds."""
        payload = cls(None)
        payload._name = content.get("name")
        payload._origin = content.get("origin_name")
        payload._consumer = content.get("consumer_name")
        payload._metadata = dict(content.get("metadata") or {})
        return payload

    def __json__(self) -> dict[str, Any]:
        """The Payload in the state's JSON (its metadata, tagged ``"type": "__payload__"``)."""
        return {"type": PAYLOAD_TYPE, **self.to_dict()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, origin={self.origin_name!r})"


class Payload(_BasePayload):
    """A picklable value handed from one work to another (pickle: trusted code only).

    Args:
        value: The object; it must be picklable when the work's call ends or the work stops.
    """

    def save(self, obj: Any, path: str) -> None:
        """Pickle ``obj`` into ``path``."""
        import pickle

        with open(path, "wb") as file:
            pickle.dump(obj, file)

    def load(self, path: str) -> Any:
        """Unpickle the object in ``path`` (runs the code the pickle names: trusted content only)."""
        import pickle

        with open(path, "rb") as file:
            return pickle.load(file)
