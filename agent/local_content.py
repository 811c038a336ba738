"""LocalContent: what this agent knows of the files on its machine by content.

Two questions, answered without reading a file twice while it is unchanged (same size, modification time and inode):

- the digest of a file (hashing it once, to persist it or to check a copy);
- where a copy of some content already is on this machine (a file the agent persisted or fetched), so that a
  consumer on the same machine, or a second fetch, copies it locally instead of over the network.

A file changed since it was seen is never trusted: its signature no longer matches and it is hashed again (and a
local copy is verified against the digest as it is made). Thread-safe: used from worker threads.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import NamedTuple

from lightning_ctl.sdk._content import sha256_file

MAX_ENTRIES = 100_000


class _Signature(NamedTuple):
    size: int
    mtime_ns: int
    inode: int
    device: int


def _signature(path: str) -> _Signature | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return _Signature(info.st_size, info.st_mtime_ns, info.st_ino, info.st_dev)


class LocalContent:
    """Digests of local files by path, and local paths by digest (both bounded, least recently used dropped)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        """Remember at most ``max_entries`` files."""
        self._by_path: OrderedDict[str, tuple[_Signature, str]] = OrderedDict()
        self._by_digest: dict[str, set[str]] = {}
        self._max = max_entries
        self._lock = threading.Lock()
        self.hashed_bytes = 0
        """Bytes read to compute digests (what the cache saved is the rest)."""

    def digest_of(self, path: str) -> str:
        """The sha256 of the file ``path``, hashing it only if it changed since last seen.

        Raises:
            OSError: it cannot be read.
        """
        path = os.path.abspath(path)
        before = _signature(path)
        if before is None:
            raise FileNotFoundError(path)
        with self._lock:
            known = self._by_path.get(path)
            if known is not None and known[0] == before:
                self._by_path.move_to_end(path)
                return known[1]
        digest = sha256_file(path)
        if _signature(path) == before:  # not changed while it was read: worth remembering
            self.hashed_bytes += before.size
            self._remember(path, before, digest)
        return digest

    def remember(self, path: str, digest: str) -> None:
        """``path`` holds ``digest`` now (the agent just wrote or verified it)."""
        path = os.path.abspath(path)
        signature = _signature(path)
        if signature is not None:
            self._remember(path, signature, digest)

    def _remember(self, path: str, signature: _Signature, digest: str) -> None:
        with self._lock:
            previous = self._by_path.pop(path, None)
            if previous is not None:
                self._forget_digest(path, previous[1])
            self._by_path[path] = (signature, digest)
            self._by_digest.setdefault(digest, set()).add(path)
            while len(self._by_path) > self._max:
                old_path, (_, old_digest) = self._by_path.popitem(last=False)
                self._forget_digest(old_path, old_digest)

    def _forget_digest(self, path: str, digest: str) -> None:
        paths = self._by_digest.get(digest)
        if paths is not None:
            paths.discard(path)
            if not paths:
                del self._by_digest[digest]

    def holds(self, path: str, digest: str) -> bool:
        """Whether ``path`` is known to hold ``digest`` and is unchanged since."""
        path = os.path.abspath(path)
        with self._lock:
            known = self._by_path.get(path)
        return known is not None and known[1] == digest and _signature(path) == known[0]

    def copy_source(self, digest: str, exclude: str = "") -> str | None:
        """A local file holding ``digest`` (unchanged since it was seen), other than ``exclude``; None if none."""
        with self._lock:
            candidates = [p for p in self._by_digest.get(digest, ()) if p != exclude]
        for path in candidates:
            if self.holds(path, digest):
                return path
        return None
