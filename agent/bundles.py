"""BundleCache: the app's code bundles on this machine, fetched once per digest, verified, unpacked safely.

A bundle is a gzip-compressed tar named by the hex SHA-256 of its bytes. ``<root>/<digest>`` exists only once
the bundle was fetched in full, matched its digest and was unpacked: it appears by an atomic rename, so its
presence means complete, for this agent and for any other process sharing the root.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import AsyncIterator, BinaryIO, Callable

from lightning_ctl.agent.errors import BundleError
from lightning_ctl.protos.limits import MAX_BUNDLE_BYTES, MAX_BUNDLE_FILES, MAX_BUNDLE_UNPACKED_BYTES

__all__ = ["MAX_BUNDLE_BYTES", "BundleCache", "BundleError", "UnpackLimits"]

_DIGEST = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class UnpackLimits:
    """What one bundle may hold once unpacked: the total size of its files and its number of entries."""

    max_bytes: int = MAX_BUNDLE_UNPACKED_BYTES
    max_entries: int = MAX_BUNDLE_FILES


class BundleCache:
    """Code bundles unpacked under ``root``, one folder per digest.

    ``fetches`` counts the downloads started and ``hits`` the calls to :meth:`ensure` served without one
    (already unpacked, or joining a download in flight), so ``fetches + hits`` is the number of calls.
    """

    def __init__(self, root: str | Path, unpack_limits: UnpackLimits = UnpackLimits()) -> None:
        """Create the cache; ``root`` is made when the first bundle is fetched.

        Args:
            root: The folder holding the unpacked bundles.
            unpack_limits: What a bundle may hold once unpacked (a small archive may expand enormously).
        """
        self.root = Path(root)
        self.unpack_limits = unpack_limits
        self.fetches = 0
        self.hits = 0
        self._in_flight: dict[str, asyncio.Task[Path]] = {}

    def path_for(self, digest: str) -> Path | None:
        """The unpacked folder of bundle ``digest``, or None if it is not complete here.

        Raises:
            BundleError: ``digest`` is not 64 lowercase hex characters.
        """
        folder = self.root / _checked(digest)
        return folder if folder.is_dir() else None

    def is_cached(self, digest: str) -> bool:
        """Whether bundle ``digest`` is unpacked here.

        Raises:
            BundleError: ``digest`` is not 64 lowercase hex characters.
        """
        return self.path_for(digest) is not None

    async def ensure(
        self,
        digest: str,
        fetch: Callable[[str], AsyncIterator[bytes]],
        max_bytes: int = MAX_BUNDLE_BYTES,
    ) -> Path:
        """The unpacked folder of bundle ``digest``, fetched with ``fetch`` unless it is here already.

        Concurrent calls for one digest share a single download: the first caller's ``fetch`` and
        ``max_bytes`` are used, and a caller that is cancelled does not cancel it for the others.

        Args:
            digest: Hex SHA-256 of the bundle's bytes.
            fetch: Given the digest, yields the bundle's bytes in chunks.
            max_bytes: Largest bundle accepted; the download stops as soon as it passes this.

        Returns:
            ``<root>/<digest>``.

        Raises:
            BundleError: the digest is malformed, or the fetch failed, sent too much, did not match the
                digest, held an unsafe or unreadable archive, or would unpack past the unpack limits. Nothing is
                left behind.
        """
        _checked(digest)
        task = self._in_flight.get(digest)
        if task is None:
            folder = self.path_for(digest)
            if folder is not None:
                self.hits += 1
                return folder
            self.fetches += 1
            task = asyncio.ensure_future(self._fetch(digest, fetch, max_bytes))
            self._in_flight[digest] = task
            task.add_done_callback(partial(self._settled, digest))
        else:
            self.hits += 1
        return await asyncio.shield(task)

    def _settled(self, digest: str, task: asyncio.Task[Path]) -> None:
        if self._in_flight.get(digest) is task:
            del self._in_flight[digest]
        if not task.cancelled():
            # Marks the error as seen: every caller may have been cancelled before it arrived.
            task.exception()

    async def _fetch(self, digest: str, fetch: Callable[[str], AsyncIterator[bytes]], max_bytes: int) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        handle, archive = tempfile.mkstemp(dir=self.root, prefix=f"{digest}.download-")
        try:
            with os.fdopen(handle, "wb") as sink:
                received = await _download(digest, fetch, sink, max_bytes)
            if received != digest:
                raise BundleError(
                    f"code bundle {digest}: the bytes received hash to {received}; discarded", digest=digest
                )
            return await asyncio.to_thread(self._unpack, digest, Path(archive))
        finally:
            os.unlink(archive)

    def _unpack(self, digest: str, archive: Path) -> Path:
        """Unpack ``archive`` next to its final place, then move it there in one rename."""
        if not hasattr(tarfile, "data_filter"):
            raise BundleError(
                f"code bundle {digest}: this Python has no safe tar extraction (needs 3.10.12+ or 3.11.4+)",
                digest=digest,
            )
        final = self.root / digest
        staging = Path(tempfile.mkdtemp(dir=self.root, prefix=f"{digest}.tmp-"))
        try:
            try:
                with tarfile.open(archive, mode="r:gz") as tar:
                    tar.extractall(staging, filter=_Budget(digest, self.unpack_limits).check)
            except (tarfile.TarError, EOFError, OSError) as exc:
                raise BundleError(f"code bundle {digest}: cannot unpack it: {exc}", digest=digest) from exc
            try:
                os.rename(staging, final)
            except OSError as exc:
                if not final.is_dir():
                    problem = f"code bundle {digest}: cannot move it into place: {exc}"
                    raise BundleError(problem, digest=digest) from exc
                # Another process sharing this cache unpacked the same digest first: theirs is as good.
            return final
        finally:
            shutil.rmtree(staging, ignore_errors=True)


async def _download(
    digest: str, fetch: Callable[[str], AsyncIterator[bytes]], sink: BinaryIO, max_bytes: int
) -> str:
    """Write what ``fetch`` yields to ``sink`` and return its hex SHA-256, stopping past ``max_bytes``."""
    hasher = hashlib.sha256()
    total = 0
    stream = fetch(digest)
    try:
        async for chunk in stream:
            total += len(chunk)
            if total > max_bytes:
                raise BundleError(
                    f"code bundle {digest}: more than the limit of {max_bytes} bytes was sent; "
                    "download stopped",
                    digest=digest,
                )
            hasher.update(chunk)
            sink.write(chunk)
    except BundleError:
        raise
    except Exception as exc:
        raise BundleError(f"code bundle {digest}: fetching it failed: {exc!r}", digest=digest) from exc
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
    return hasher.hexdigest()


class _Budget:
    """An extraction filter that refuses a bundle as soon as its entries pass the unpack limits.

    Sizes come from the entries' headers, before their content is written: tar extracts exactly ``member.size``
    bytes of each file, so nothing past the limit ever reaches the disk.
    """

    def __init__(self, digest: str, limits: UnpackLimits) -> None:
        self._digest = digest
        self._limits = limits
        self._entries = 0
        self._bytes = 0

    def check(self, member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        self._entries += 1
        self._bytes += max(member.size, 0)
        if self._entries > self._limits.max_entries:
            raise BundleError(f"code bundle {self._digest}: more than {self._limits.max_entries} files and folders; "
                              "refused (list what the app does not need in .lightningignore)", digest=self._digest)
        if self._bytes > self._limits.max_bytes:
            raise BundleError(f"code bundle {self._digest}: its files hold more than {self._limits.max_bytes} bytes "
                              "once unpacked; refused (list what the app does not need in .lightningignore)",
                              digest=self._digest)
        return _strict_data_filter(member, dest)


def _strict_data_filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """The "data" filter (refuses "..", links leaving the folder, devices), refusing absolute names too.

    The "data" filter only strips a leading "/"; our bundles never have one, so one means a bad bundle.
    """
    if member.name.startswith(("/", os.sep)):
        raise tarfile.AbsolutePathError(member)
    return tarfile.data_filter(member, dest)


def _checked(digest: str) -> str:
    """``digest`` if it is 64 lowercase hex characters, the only form ever used as a folder name."""
    if not isinstance(digest, str) or _DIGEST.fullmatch(digest) is None:
        raise BundleError(f"invalid code bundle digest {digest!r}: expected 64 lowercase hex characters")
    return digest
