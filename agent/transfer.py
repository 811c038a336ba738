"""BlobTransfer: moving blobs (files named by their sha256) between this machine and the control plane's store.

Uploading: a blob the store has is not sent again, and an interrupted upload goes on from where the store's copy
stopped. Getting a file: one already at the destination, or elsewhere on this machine (LocalContent), is copied
locally; otherwise it is downloaded (resuming a partial copy left by an interrupted one, even by an agent that
restarted since) into a hidden file beside its destination, verified against its digest and renamed into place; a
folder is built beside its destination and swapped in whole. One chunk at a time travels each way (bounded memory
whatever the size). While the control plane is unreachable, transfers retry for ``RETRY_WINDOW_S`` without progress,
then fail saying so.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import grpc
import structlog

from lightning_ctl.agent.errors import TransferFailure
from lightning_ctl.agent.local_content import LocalContent
from lightning_ctl.protos.lightning.v1 import storage_pb2, storage_pb2_grpc
from lightning_ctl.sdk._content import (
    CHUNK_BYTES,
    ContentError,
    PartialCopy,
    check_relative,
    copy_local,
    make_dirs,
    staging_folder,
    swap_in,
)
from lightning_ctl.sdk._storage_types import FailureKind, FileEntry
from lightning_ctl.sdk._tasks import cancel_and_wait

log = structlog.get_logger(component="transfer")

T = TypeVar("T")
RETRY_WINDOW_S = 120.0
"""How long a transfer keeps trying, without progress, while the control plane is unreachable."""
UNARY_TIMEOUT_S = 60.0
_RETRY_INITIAL_S = 0.2
_RETRY_MAX_S = 2.0
_PARALLEL_FILES = 8
_CHANGED_RETRIES = 3
_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED})


_FAILURE_KINDS = {
    grpc.StatusCode.NOT_FOUND: FailureKind.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: FailureKind.EXISTS,
    grpc.StatusCode.INVALID_ARGUMENT: FailureKind.INVALID,
}


def _failure(exc: grpc.aio.AioRpcError) -> TransferFailure:
    """The control plane's answer as a failure of the request (the one mapping from status codes)."""
    code, details = exc.code(), exc.details() or ""
    if code == grpc.StatusCode.UNAUTHENTICATED:
        details = "the control plane refused this agent's credential"
    elif code == grpc.StatusCode.UNIMPLEMENTED:
        details = "the control plane does not serve files (an older lightning-ctl?)"
    return TransferFailure(details or code.name.lower(), kind=_FAILURE_KINDS.get(code, FailureKind.TRANSFER),
                           changed=code == grpc.StatusCode.DATA_LOSS)


def _is_no_space(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


class BlobTransfer:
    """Moves blobs between this machine and the control plane's store: resumable, verified, deduplicated."""

    def __init__(self, content: LocalContent | None = None, retry_window_s: float = RETRY_WINDOW_S) -> None:
        self.content = content or LocalContent()
        self._stub: storage_pb2_grpc.StorageServiceStub | None = None
        self._metadata: tuple[tuple[str, str], ...] = ()
        self._connected: asyncio.Event | None = None
        self._locks: dict[str, asyncio.Lock] = {}
        self._retry_window_s = retry_window_s
        self.bytes_sent = 0
        self.bytes_received = 0
        self.local_copies = 0

    def use_channel(self, channel: grpc.aio.Channel, metadata: tuple[tuple[str, str], ...]) -> None:
        """Talk to the control plane over ``channel`` with ``metadata`` from now on.

        The channel is the agent's own connection; the metadata carries its agent credential, by which the
        control plane knows the agent.
        """
        self._stub = storage_pb2_grpc.StorageServiceStub(channel)
        self._metadata = metadata
        self._ready().set()

    def _ready(self) -> asyncio.Event:
        if self._connected is None:
            self._connected = asyncio.Event()
        return self._connected

    def _lock(self, digest: str) -> asyncio.Lock:
        return self._locks.setdefault(digest, asyncio.Lock())

    # -- calls with retries ---------------------------------------------------------------------------------------

    async def _call(self, what: str, call: Callable[[storage_pb2_grpc.StorageServiceStub, tuple], Awaitable[T]]) -> T:
        """``call`` with the current stub, retried while the control plane is unreachable (up to the window)."""
        retry = _Retry(what, self._retry_window_s)
        while True:
            stub = await self._wait_stub(retry)
            try:
                return await call(stub, self._metadata)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in _RETRYABLE:
                    raise _failure(exc) from None
                await retry.pause(exc.details() or exc.code().name)
            except grpc.aio.UsageError as exc:  # the session closed the channel (the control plane moved)
                await retry.pause(str(exc))

    async def _wait_stub(self, retry: _Retry) -> storage_pb2_grpc.StorageServiceStub:
        while self._stub is None:
            try:
                await asyncio.wait_for(self._ready().wait(), retry.remaining())
            except asyncio.TimeoutError:
                await retry.pause("not connected to the control plane")
        return self._stub

    # -- blobs ----------------------------------------------------------------------------------------------------

    async def upload_blob(self, path: str, digest: str, size: int, work_name: str, name: str) -> None:
        """Make sure the store has ``digest`` (the content of ``path``): upload what it lacks, resuming.

        Raises:
            TransferFailure: the store refused it (full, ...), it did not match its digest (the file changed while
                it was read), or the control plane stayed unreachable.
        """
        what = f"uploading {work_name}'s {name!r}"
        async with self._lock(digest):
            retry = _Retry(what, self._retry_window_s)
            while True:
                status = await self._call(what, lambda stub, md: stub.StatBlob(
                    storage_pb2.StatBlobRequest(digest=digest), metadata=md, timeout=UNARY_TIMEOUT_S))
                if status.stored:
                    return
                stub = await self._wait_stub(retry)
                messages = self._upload_messages(path, digest, size, status.partial_bytes, work_name, name)
                try:
                    reply = await stub.UploadBlob(messages, metadata=self._metadata)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                        continue  # the control plane kept a different amount: ask again
                    if exc.code() not in _RETRYABLE:
                        raise _failure(exc) from None
                    await retry.pause(exc.details() or exc.code().name)
                    continue
                except grpc.aio.UsageError as exc:
                    await retry.pause(str(exc))
                    continue
                if reply.stored:
                    return
                await retry.pause("the upload stopped early")

    async def _upload_messages(
        self, path: str, digest: str, size: int, offset: int, work_name: str, name: str
    ) -> AsyncIterator[storage_pb2.BlobUpload]:
        reader = await asyncio.to_thread(open, path, "rb")
        try:
            await asyncio.to_thread(reader.seek, offset)
            remaining = size - offset
            first = True
            while first or remaining > 0:
                data = await asyncio.to_thread(reader.read, min(CHUNK_BYTES, remaining)) if remaining > 0 else b""
                if first:
                    yield storage_pb2.BlobUpload(digest=digest, size=size, offset=offset, work_name=work_name,
                                                 name=name, data=data)
                    first = False
                elif data:
                    yield storage_pb2.BlobUpload(data=data)
                if not data:
                    break  # the file shrank: the control plane sees the upload end short and keeps what came
                remaining -= len(data)
                self.bytes_sent += len(data)
        finally:
            reader.close()

    async def materialize(self, entry: FileEntry, destination: str, owner: str, hint: str = "") -> None:
        """Make ``destination`` hold ``entry``'s content: already there, copied locally, or downloaded.

        Args:
            entry: The file (its digest, size and mode).
            destination: Where it goes (absolute).
            owner: Whose file, for messages.
            hint: Another local path that may hold it already (the previous copy of a folder being replaced).

        Raises:
            TransferFailure: no space here, a corrupt copy, or the control plane stayed unreachable.
        """
        for candidate in (destination, hint):
            if not candidate:
                continue
            if await asyncio.to_thread(self._holds, candidate, entry):
                if candidate != destination:
                    await self._copy_locally(candidate, entry, destination, owner)
                return
        async with self._lock(entry.digest):
            source = self.content.copy_source(entry.digest, exclude=destination)
            if source is not None and await self._copy_locally(source, entry, destination, owner):
                return
            await self._download(entry, destination, owner)
        self.content.remember(destination, entry.digest)

    def _holds(self, path: str, entry: FileEntry) -> bool:
        """Whether ``path`` holds ``entry``'s content (hashing it only when its size matches and it is not known)."""
        if self.content.holds(path, entry.digest):
            return True
        try:
            if not os.path.isfile(path) or os.path.getsize(path) != entry.size:
                return False
            return self.content.digest_of(path) == entry.digest
        except OSError:
            return False

    async def _copy_locally(self, source: str, entry: FileEntry, destination: str, owner: str) -> bool:
        try:
            await asyncio.to_thread(copy_local, source, destination, entry.digest, entry.size, entry.mode)
        except ContentError:
            return False  # the source changed since it was seen: download instead
        except OSError as exc:
            if _is_no_space(exc):
                raise self._no_space(exc, destination, entry, owner) from None
            return False
        self.content.remember(destination, entry.digest)
        self.local_copies += 1
        return True

    async def _download(self, entry: FileEntry, destination: str, owner: str) -> None:
        what = f"getting {owner}"
        retry = _Retry(what, self._retry_window_s)
        try:
            copy = await asyncio.to_thread(PartialCopy, destination, entry.digest, entry.size)
        except OSError as exc:
            raise self._local_error(exc, destination, entry, owner) from None
        if copy.offset:
            log.info("download_resumed", digest=entry.digest[:12], offset=copy.offset, size=entry.size, owner=owner)
        try:
            while copy.offset < entry.size:
                before = copy.offset
                stub = await self._wait_stub(retry)
                call = stub.DownloadBlob(storage_pb2.DownloadBlobRequest(digest=entry.digest, offset=copy.offset),
                                         metadata=self._metadata)
                try:
                    async for chunk in call:
                        await asyncio.to_thread(copy.write, chunk.data)
                        self.bytes_received += len(chunk.data)
                    reason = "the download ended early"
                except grpc.aio.AioRpcError as exc:
                    if exc.code() not in _RETRYABLE:
                        raise _failure(exc) from None
                    reason = exc.details() or exc.code().name
                except grpc.aio.UsageError as exc:
                    reason = str(exc)
                finally:
                    call.cancel()
                if copy.offset < entry.size:
                    if copy.offset > before:
                        retry.progressed()
                    await retry.pause(reason)
            await asyncio.to_thread(copy.finish, entry.mode)
        except ContentError as exc:
            raise TransferFailure(f"{owner}: {exc}") from None
        except OSError as exc:
            if _is_no_space(exc):
                copy.discard()  # a full disk gets its space back; nothing to resume from
            raise self._local_error(exc, destination, entry, owner) from None
        finally:
            copy.close()

    def _local_error(self, exc: OSError, destination: str, entry: FileEntry, owner: str) -> TransferFailure:
        if _is_no_space(exc):
            return self._no_space(exc, destination, entry, owner)
        return TransferFailure(f"cannot write {destination}: {exc}")

    @staticmethod
    def _no_space(exc: OSError, destination: str, entry: FileEntry, owner: str) -> TransferFailure:
        return TransferFailure(
            f"no space left on {socket.gethostname()} for {destination} ({entry.size} bytes of {owner}): "
            f"{exc.strerror or exc}",
        )

    async def materialize_tree(self, files: Sequence[FileEntry], dirs: Sequence[str], destination: str,
                               owner: str) -> None:
        """Build the folder beside ``destination`` and swap it in whole (replacing what is there)."""
        for entry in files:
            check_relative(entry.path, owner)
        staging = staging_folder(destination, files)
        try:
            await asyncio.to_thread(make_dirs, staging, dirs)
        except OSError as exc:
            raise TransferFailure(f"cannot write {destination}: {exc}") from None

        async def one(entry: FileEntry) -> None:
            await self.materialize(entry, os.path.join(staging, entry.path), owner,
                                   hint=os.path.join(destination, entry.path))

        await _bounded(one, files)
        await asyncio.to_thread(swap_in, staging, destination)

    async def upload_files(self, files: Sequence, work_name: str, name: str) -> list[FileEntry]:
        """Upload local files (``sdk._content.LocalFile``); their entries, in the same order."""
        entries: list[FileEntry | None] = [None] * len(files)

        async def one(index: int) -> None:
            local = files[index]

            def digest_and_size() -> tuple[str, int]:
                return self.content.digest_of(local.path), os.path.getsize(local.path)

            for _ in range(_CHANGED_RETRIES):
                try:
                    digest, size = await asyncio.to_thread(digest_and_size)
                except OSError as exc:
                    raise TransferFailure(f"cannot read {local.path}: {exc}") from None
                try:
                    await self.upload_blob(local.path, digest, size, work_name, name)
                except TransferFailure as exc:
                    if not exc.changed:
                        raise
                    continue  # the file changed while it was read: hash it again
                entries[index] = FileEntry(local.relpath, digest, size, local.mode)
                return
            raise TransferFailure(f"{local.path} kept changing while {work_name} persisted it")

        await _bounded(one, range(len(files)))
        return [entry for entry in entries if entry is not None]


class _Retry:
    """Pauses between attempts with backoff; fails once ``window_s`` passed without progress."""

    def __init__(self, what: str, window_s: float) -> None:
        self.what = what
        self.window_s = window_s
        self._delay = _RETRY_INITIAL_S
        self._since = time.monotonic()

    def remaining(self) -> float:
        return max(0.01, self._since + self.window_s - time.monotonic())

    def progressed(self) -> None:
        self._since = time.monotonic()
        self._delay = _RETRY_INITIAL_S

    async def pause(self, reason: str) -> None:
        if time.monotonic() - self._since > self.window_s:
            raise TransferFailure(f"{self.what}: the control plane stayed unreachable for {self.window_s:.0f}s "
                                  f"({reason})")
        log.debug("transfer_retrying", what=self.what, reason=reason, delay_s=self._delay)
        await asyncio.sleep(self._delay)
        self._delay = min(self._delay * 2, _RETRY_MAX_S)


async def _bounded(function: Callable[[T], Awaitable[None]], items: Sequence[T]) -> None:
    """``function`` on every item, at most _PARALLEL_FILES at a time; the first failure cancels the rest."""
    semaphore = asyncio.Semaphore(_PARALLEL_FILES)

    async def guarded(item: T) -> None:
        async with semaphore:
            await function(item)

    tasks = [asyncio.ensure_future(guarded(item)) for item in items]
    try:
        await asyncio.gather(*tasks)
    finally:
        await cancel_and_wait(*tasks)  # the others' outcomes retrieved: none is reported as forgotten
