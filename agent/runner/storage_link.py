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
from lightning_ctl.protos import storage_codec
from lightning_ctl.protos.lightning.v1 import storage_pb2
from lightning_ctl.sdk._path import Path
from lightning_ctl.sdk._payload import _BasePayload
from lightning_ctl.sdk._storage import PATH_KIND, PAYLOAD_KIND, StorageBackend
from lightning_ctl.sdk._storage_types import PersistOutcome
from lightning_ctl.sdk._storage_values import decode_arguments
from lightning_ctl.sdk._work import LightningWork
from lightning_ctl.sdk.errors import ArtifactNotFoundError, TransferError

_Failure = storage_pb2.StorageFailure


class RunnerStorage(StorageBackend):
    """Storage of the work ``work_name``: every request goes to its agent over ``connection``."""

    def __init__(self, connection: RunnerConnection, work_name: str) -> None:
        self._connection = connection
        self._work_name = work_name

    def _ask(self, request: storage_pb2.StorageRequest, what: str, origin: str = "") -> storage_pb2.StorageReply:
        reply = self._connection.request(request)
        if not reply.HasField("failure"):
            return reply
        message = f"{self._work_name} {what}: {reply.failure.message}"
        kind = reply.failure.kind
        if kind == _Failure.KIND_NOT_FOUND:
            raise ArtifactNotFoundError(message, work_name=self._work_name, path=what, origin_name=origin)
        if kind == _Failure.KIND_EXISTS:
            raise FileExistsError(message)
        if kind == _Failure.KIND_INVALID:
            raise ValueError(message)
        raise TransferError(message, work_name=self._work_name, path=what, origin_name=origin)

    def artifact_exists(self, origin: str, kind: str, name: str) -> bool:
        request = storage_pb2.ResolveArtifactRequest(work_name=origin, kind=storage_codec.kind_to_pb(kind), name=name,
                                                     consumer=self._work_name)
        reply = self._ask(storage_pb2.StorageRequest(resolve=request), f"cannot check {name!r} of {origin}", origin)
        return reply.exists

    def fetch(self, origin: str, kind: str, name: str, destination: str) -> None:
        request = storage_pb2.FetchArtifact(origin=origin, kind=storage_codec.kind_to_pb(kind), name=name,
                                            destination=destination, consumer=self._work_name)
        what = f"{name!r}" if kind == PATH_KIND else f"the Payload {name!r}"
        self._ask(storage_pb2.StorageRequest(fetch=request), f"cannot get {what} made by {origin}", origin)

    def persist(self, work_name: str, items: list[tuple[str, str, str]]) -> list[PersistOutcome]:
        request = storage_pb2.PersistArtifacts(work_name=work_name, items=[
            storage_pb2.PersistItem(kind=storage_codec.kind_to_pb(kind), name=name, local_path=path)
            for kind, name, path in items])
        reply = self._ask(storage_pb2.StorageRequest(persist=request), "cannot persist its files")
        return [storage_codec.outcome_from_pb(outcome) for outcome in reply.persisted]

    def drive_put(self, drive_id: str, component: str, source: str, path: str, allow_duplicates: bool) -> None:
        request = storage_pb2.DrivePut(drive_id=drive_id, component=component, local_path=source, path=path,
                                       allow_duplicates=allow_duplicates)
        self._ask(storage_pb2.StorageRequest(drive_put=request), f"cannot put {path!r} in Drive {drive_id!r}")

    def drive_list(self, drive_id: str, component: str | None, path: str) -> list[str]:
        request = storage_pb2.ListDriveRequest(drive_id=drive_id, component=component or "", path=path)
        reply = self._ask(storage_pb2.StorageRequest(drive_list=request), f"cannot list Drive {drive_id!r}")
        return list(reply.names)

    def drive_get(self, drive_id: str, component: str | None, path: str, destination: str, timeout_s: float,
                  overwrite: bool) -> None:
        drive = storage_pb2.ResolveDriveRequest(drive_id=drive_id, component=component or "", path=path,
                                                timeout_s=timeout_s)
        request = storage_pb2.DriveGet(drive=drive, destination=destination, overwrite=overwrite)
        try:
            self._ask(storage_pb2.StorageRequest(drive_get=request), f"cannot get {path!r} from Drive {drive_id!r}")
        except ArtifactNotFoundError as exc:
            raise FileNotFoundError(str(exc)) from None

    def drive_delete(self, drive_id: str, component: str, path: str) -> None:
        request = storage_pb2.DeleteDriveFilesRequest(drive_id=drive_id, component=component, path=path)
        try:
            self._ask(storage_pb2.StorageRequest(drive_delete=request),
                      f"cannot delete {path!r} from Drive {drive_id!r}")
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
