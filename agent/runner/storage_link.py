"""The work process's storage: Path, Payload and Drive ask the work's agent, which talks to the control plane.

Around each call of the work (``WorkProcess.run_call``):

- before ``run()``: Paths and Payloads among its arguments made by another work are got (a failure fails the call,
  naming the work, the path and the cause), then its Path attributes made by another work that can be had;
- after a successful ``run()``, and when stopped: its own Paths that exist, and its Payloads, are persisted to the
  app's store (what cannot be is said on stderr and recorded, so a consumer learns why).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Any

from lightning_ctl.agent.runner.connection import RunnerConnection
from lightning_ctl.sdk._path import Path
from lightning_ctl.sdk._payload import _BasePayload
from lightning_ctl.sdk._storage import PATH_KIND, PAYLOAD_KIND, StorageBackend
from lightning_ctl.sdk._storage_types import (
    DriveDeleteAsk,
    DriveGetAsk,
    DriveListAsk,
    DrivePutAsk,
    FailureKind,
    FetchAsk,
    PersistAsk,
    PersistItem,
    PersistOutcome,
    ResolveAsk,
    StorageAsk,
    StorageReply,
)
from lightning_ctl.sdk._storage_values import decode_arguments
from lightning_ctl.sdk._work import LightningWork
from lightning_ctl.sdk.errors import ArtifactNotFoundError, TransferError


class RunnerStorage(StorageBackend):
    """Storage of the work ``work_name``: every request goes to its agent over ``connection``."""

    def __init__(self, connection: RunnerConnection, work_name: str) -> None:
        self._connection = connection
        self._work_name = work_name

    def _ask(self, ask: StorageAsk, what: str, origin: str = "") -> StorageReply:
        reply = self._connection.request(ask)
        if reply.failure is None:
            return reply
        message = f"{self._work_name} {what}: {reply.message}"
        if reply.failure == FailureKind.NOT_FOUND:
            raise ArtifactNotFoundError(message, work_name=self._work_name, path=what, origin_name=origin)
        if reply.failure == FailureKind.EXISTS:
            raise FileExistsError(message)
        if reply.failure == FailureKind.INVALID:
            raise ValueError(message)
        raise TransferError(message, work_name=self._work_name, path=what, origin_name=origin)

    def artifact_exists(self, origin: str, kind: str, name: str) -> bool:
        """Ask the agent whether ``origin``'s Path or Payload ``name`` can be had."""
        ask = ResolveAsk(origin, kind, name, consumer=self._work_name)
        return self._ask(ask, f"cannot check {name!r} of {origin}", origin).exists

    def fetch(self, origin: str, kind: str, name: str, destination: str) -> None:
        """Have the agent put ``origin``'s Path or Payload ``name`` at ``destination``."""
        ask = FetchAsk(origin, kind, name, destination, consumer=self._work_name)
        what = f"{name!r}" if kind == PATH_KIND else f"the Payload {name!r}"
        self._ask(ask, f"cannot get {what} made by {origin}", origin)

    def persist(self, work_name: str, items: list[tuple[str, str, str]]) -> list[PersistOutcome]:
        """Have the agent persist the work's files to the app's store; what became of each."""
        ask = PersistAsk(work_name, tuple(PersistItem(kind, name, path) for kind, name, path in items))
        return list(self._ask(ask, "cannot persist its files").persisted)

    def drive_put(self, drive_id: str, component: str, source: str, path: str, allow_duplicates: bool) -> None:
        """Have the agent put the local file ``source`` in the Drive at ``path``."""
        ask = DrivePutAsk(drive_id, component, source, path, allow_duplicates)
        self._ask(ask, f"cannot put {path!r} in Drive {drive_id!r}")

    def drive_list(self, drive_id: str, component: str | None, path: str) -> list[str]:
        """The names the Drive holds under ``path``, as the agent lists them."""
        ask = DriveListAsk(drive_id, component or "", path)
        return list(self._ask(ask, f"cannot list Drive {drive_id!r}").names)

    def drive_get(self, drive_id: str, component: str | None, path: str, destination: str, timeout_s: float,
                  overwrite: bool) -> None:
        """Have the agent copy the Drive's ``path`` to ``destination`` (FileNotFoundError if absent)."""
        ask = DriveGetAsk(drive_id, component or "", path, destination, timeout_s, overwrite)
        try:
            self._ask(ask, f"cannot get {path!r} from Drive {drive_id!r}")
        except ArtifactNotFoundError as exc:
            raise FileNotFoundError(str(exc)) from None

    def drive_delete(self, drive_id: str, component: str, path: str) -> None:
        """Have the agent delete the Drive's ``path`` (FileNotFoundError if absent)."""
        try:
            self._ask(DriveDeleteAsk(drive_id, component, path), f"cannot delete {path!r} from Drive {drive_id!r}")
        except ArtifactNotFoundError as exc:
            raise FileNotFoundError(str(exc)) from None


def _foreign(value: Any, work: LightningWork) -> bool:
    return isinstance(value, (Path, _BasePayload)) and value.origin_name not in (None, "", work.name)


def receive_arguments(work: LightningWork, args: list[Any], kwargs: dict[str, Any]) -> tuple[list, dict]:
    """A call's arguments with their Paths and Payloads objects again, those of other works got first.

    Raises:
        lightning_ctl.sdk.errors.TransferError: one could not be got (the message names the work, path and cause).
    """
    args, kwargs = decode_arguments(args), decode_arguments(kwargs)
    for value in _storage_objects([args, kwargs]):
        foreign = _foreign(value, work)
        value._attach_work(work)
        if not foreign:
            continue
        if isinstance(value, Path):
            value.get(overwrite=True)
        else:
            value.get()
    return args, kwargs


def _storage_objects(value: Any) -> list[Any]:
    if isinstance(value, (Path, _BasePayload)):
        return [value]
    if isinstance(value, (list, tuple)):
        return [found for item in value for found in _storage_objects(item)]
    if isinstance(value, dict):
        return [found for item in value.values() for found in _storage_objects(item)]
    return []


def fetch_path_attributes(work: LightningWork) -> None:
    """Get the work's Path attributes made by other works that those can hand over (the others are left alone)."""
    for name in list(work._paths):
        value = work.__dict__.get(name)
        if _foreign(value, work) and isinstance(value, Path):
            try:
                value.get(overwrite=True)
            except ArtifactNotFoundError:
                pass  # not made yet: the work may get it later with path.get()


def persist_artifacts(work: LightningWork, storage: StorageBackend) -> list[PersistOutcome]:
    """Persist the work's own Paths and its Payloads to the app's store; what could not be is said on stderr."""
    items: list[tuple[str, str, str]] = []
    folder = None
    for name in sorted(work._state_names()):
        value = work.__dict__.get(name)
        if isinstance(value, Path) and value.origin_name == work.name:
            items.append((PATH_KIND, str(value), os.path.abspath(value)))
        elif isinstance(value, _BasePayload) and value.origin_name == work.name and value.value is not None:
            folder = folder or tempfile.mkdtemp(prefix="lightning-payloads-")
            pickled = os.path.join(folder, name)
            try:
                value.save(value.value, pickled)
            except Exception as exc:  # noqa: BLE001 - the user's value: say so, persist the rest
                print(f"{work.name}: the Payload {name!r} could not be saved: {exc!r}", file=sys.stderr, flush=True)
                continue
            items.append((PAYLOAD_KIND, name, pickled))
    if not items:
        return []
    try:
        outcomes = storage.persist(work.name, items)
    except TransferError as exc:
        print(f"{exc}", file=sys.stderr, flush=True)
        return []
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    for outcome in outcomes:
        if not outcome.persisted:
            what = f"{outcome.name!r}" if outcome.kind == PATH_KIND else f"the Payload {outcome.name!r}"
            print(f"{work.name}: {what} was not persisted: {outcome.problem}", file=sys.stderr, flush=True)
    return outcomes
