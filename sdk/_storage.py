"""What Path, Payload and Drive need from the process they live in, and the plain types of the store.

The SDK moves no bytes itself. A work process installs a :class:`StorageBackend` that asks the work's agent (which
talks to the control plane's store); the flow's process installs none, so transfers there fail with a clear error;
a plain ``python app.py`` (no app around) gets :class:`InlineStorage`: every work shares this process's files.

Artifacts are named by (origin work, kind, name): a Path's name is the path as the work wrote it, a Payload's the
attribute holding it (their plain types, for the daemons, are in ``sdk._storage_types``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from lightning_ctl.sdk._runtime import get_runtime

if TYPE_CHECKING:
    from lightning_ctl.sdk._storage_types import PersistOutcome

PATH_KIND = "path"
PAYLOAD_KIND = "payload"
ARTIFACT_KINDS = (PATH_KIND, PAYLOAD_KIND)


def component_name(value: Any) -> str | None:
    """The name of a component (resolved now: its name is only known once the app is built), or a name as is."""
    if value is None or isinstance(value, str):
        return value
    return value.name


class Handed:
    """What Path and Payload share.

    The work that made it (its origin) and the one using it (its consumer), each a component (whose name is
    only known once the app is built) or a name.
    """

    _origin: Any = None
    _consumer: Any = None

    @property
    def origin_name(self) -> str | None:
        """The work that made it (the file is on that work's machine); None until attached to a work."""
        return component_name(self._origin)

    @property
    def consumer_name(self) -> str | None:
        """The work using it (the origin itself by default)."""
        return component_name(self._consumer)

    def _attach_work(self, work: Any) -> None:
        """The first work attached becomes the origin; the last one is the consumer."""
        if self._origin is None:
            self._origin = work
        self._consumer = work


class StorageBackend:
    """Transfers for Path, Payload and Drive; this base is what the flow's process has: none at all."""

    def artifact_exists(self, origin: str, kind: str, name: str) -> bool:
        """Whether ``origin`` persisted the artifact (or, running, can still hand it over)."""
        raise _flow_process_error("checking a remote file")

    def fetch(self, origin: str, kind: str, name: str, destination: str) -> None:
        """Copy the artifact to ``destination`` (an absolute path), replacing what is there."""
        raise _flow_process_error("getting a file")

    def persist(self, work_name: str, items: list[tuple[str, str, str]]) -> list[PersistOutcome]:
        """Persist ``(kind, name, local absolute path)`` items of ``work_name`` to the store."""
        raise _flow_process_error("persisting files")

    def drive_put(self, drive_id: str, component: str, source: str, path: str, allow_duplicates: bool) -> None:
        """Put the file or folder ``source`` in the Drive as ``component``'s ``path``."""
        raise _flow_process_error("Drive.put()")

    def drive_list(self, drive_id: str, component: str | None, path: str) -> list[str]:
        """What the Drive holds under ``path`` (every component's, or ``component``'s only), component-relative."""
        raise _flow_process_error("Drive.list()")

    def drive_get(
        self, drive_id: str, component: str | None, path: str, destination: str, timeout_s: float, overwrite: bool
    ) -> None:
        """Copy the Drive's ``path`` to ``destination``, waiting up to ``timeout_s`` for it to appear."""
        raise _flow_process_error("Drive.get()")

    def drive_delete(self, drive_id: str, component: str, path: str) -> None:
        """Delete ``component``'s ``path`` (a file or a folder) from the Drive."""
        raise _flow_process_error("Drive.delete()")


def _flow_process_error(what: str) -> RuntimeError:
    return RuntimeError(
        f"{what} can only be done from within a LightningWork's run() (in the work's own process), not in a flow"
    )


class InlineStorage(StorageBackend):
    """``python app.py`` without an app around it: every work runs here, so every file is already here."""

    def artifact_exists(self, origin: str, kind: str, name: str) -> bool:
        return os.path.exists(name)

    def fetch(self, origin: str, kind: str, name: str, destination: str) -> None:
        if not os.path.exists(destination):
            raise FileNotFoundError(f"{name} (made by {origin}) does not exist")

    def persist(self, work_name: str, items: list[tuple[str, str, str]]) -> list[PersistOutcome]:
        from lightning_ctl.sdk._storage_types import PersistOutcome

        return [PersistOutcome(kind, name, True) for kind, name, _ in items]


_backend: StorageBackend | None = None
_FLOW_PROCESS = StorageBackend()
_INLINE = InlineStorage()


def get_storage() -> StorageBackend:
    """The storage of this process: the work's agent, none in the flow's process, the local disk inline."""
    if _backend is not None:
        return _backend
    return _INLINE if get_runtime() is None else _FLOW_PROCESS


def set_storage(backend: StorageBackend | None) -> None:
    """Install ``backend`` for this process (the work runner does, at start)."""
    global _backend
    _backend = backend


def require_work_process(what: str) -> None:
    """Raise the flow's RuntimeError when ``what`` is attempted in the flow's process."""
    if get_storage() is _FLOW_PROCESS:
        raise _flow_process_error(what)
