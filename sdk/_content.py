"""Content-addressed files, as both daemons and ``lightning-ctl cp`` handle them.

Hashing, walking a file or folder into entries, and writing a copy so that it appears whole and verified or
not at all.

A copy is written to a hidden partial file beside its destination (same folder, so the final rename is atomic); the
partial keeps its bytes when the copy is interrupted, and the next copy of the same content resumes from there.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

CHUNK_BYTES = 1 << 20
"""The unit of every read, write and message of a transfer."""
_HASH_READ_BYTES = 4 << 20


class ContentError(OSError):
    """A copy did not match its digest or size (it is discarded)."""


def sha256_file(path: str | os.PathLike[str], limit: int | None = None) -> str:
    """Hex sha256 of the file's content (of its first ``limit`` bytes when given)."""
    hasher = hashlib.sha256()
    with open(path, "rb") as file:
        _hash_into(hasher, file, limit)
    return hasher.hexdigest()


def _hash_into(hasher: hashlib._Hash, file: BinaryIO, limit: int | None) -> int:
    remaining = limit
    total = 0
    while remaining is None or remaining > 0:
        block = file.read(_HASH_READ_BYTES if remaining is None else min(_HASH_READ_BYTES, remaining))
        if not block:
            break
        hasher.update(block)
        total += len(block)
        if remaining is not None:
            remaining -= len(block)
    return total


def check_relative(path: str, what: str) -> str:
    """``path`` if it is a clean relative POSIX path inside its root ("" allowed: the root itself).

    Raises:
        ValueError: absolute, or climbing out with "..", or not normalized.
    """
    if path == "":
        return path
    if path.startswith("/") or "\\" in path or posixpath.normpath(path) != path or path == ".." or \
            path.startswith("../"):
        raise ValueError(f"{what}: {path!r} is not a clean relative path")
    return path


@dataclass(frozen=True, slots=True)
class LocalFile:
    """A regular file found under a root."""

    relpath: str
    """POSIX, relative to the root ("" when the root is the file)."""
    path: str
    """Absolute."""
    size: int
    mode: int


def walk(root: str) -> tuple[bool, list[LocalFile], list[str]]:
    """``(is_dir, files, empty dirs)`` of the file or folder ``root`` (symbolic links are followed).

    Raises:
        FileNotFoundError: ``root`` does not exist.
    """
    info = os.stat(root)
    if not stat.S_ISDIR(info.st_mode):
        return False, [LocalFile("", os.path.abspath(root), info.st_size, stat.S_IMODE(info.st_mode))], []
    files: list[LocalFile] = []
    empty: list[str] = []
    for folder, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames.sort()
        relfolder = os.path.relpath(folder, root)
        prefix = "" if relfolder == "." else relfolder.replace(os.sep, "/") + "/"
        if not dirnames and not filenames and prefix:
            empty.append(prefix.rstrip("/"))
        for name in sorted(filenames):
            path = os.path.join(folder, name)
            try:
                entry = os.stat(path)
            except FileNotFoundError:
                continue  # removed while walking (or a dangling link)
            if stat.S_ISREG(entry.st_mode):
                files.append(LocalFile(prefix + name, os.path.abspath(path), entry.st_size,
                                       stat.S_IMODE(entry.st_mode)))
    return True, files, empty


def partial_path(destination: str, digest: str) -> str:
    """Where a copy of ``digest`` to ``destination`` keeps its bytes until it is whole."""
    folder, name = os.path.split(destination)
    return os.path.join(folder, f".{name}.{digest[:16]}.partial")


class PartialCopy:
    """Writes one file's content, resumable, hashed as it goes; :meth:`finish` verifies it and moves it in place.

    Use ``with``: leaving the block without :meth:`finish` keeps the partial bytes (to resume) unless ``discard``.
    """

    def __init__(self, destination: str, digest: str, size: int) -> None:
        """Open (or resume) the partial file of ``destination``.

        Args:
            destination: The final path.
            digest: The content's hex sha256.
            size: The content's size in bytes.
        """
        self.destination = destination
        self.digest = digest
        self.size = size
        self.partial = partial_path(destination, digest)
        self._hasher = hashlib.sha256()
        os.makedirs(os.path.dirname(destination) or ".", exist_ok=True)
        self._file = open(self.partial, "ab+")  # noqa: SIM115 - closed by finish/close
        self._file.seek(0)
        self.offset = _hash_into(self._hasher, self._file, None)
        if self.offset > size:  # a leftover of something else: start over
            self._file.truncate(0)
            self._hasher = hashlib.sha256()
            self.offset = 0
        self._file.seek(self.offset)

    def write(self, data: bytes) -> None:
        """Append ``data`` (raises ContentError past the expected size)."""
        if self.offset + len(data) > self.size:
            raise ContentError(f"more than the {self.size} bytes of {self.digest[:12]} arrived")
        self._file.write(data)
        self._hasher.update(data)
        self.offset += len(data)

    def finish(self, mode: int | None = None) -> None:
        """Verify the content, give it ``mode`` and move it to the destination (replacing a file there).

        Raises:
            ContentError: the size or the digest does not match (the partial file is removed).
        """
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        received = self._hasher.hexdigest()
        if self.offset != self.size or received != self.digest:
            self.discard()
            raise ContentError(
                f"the copy of {os.path.basename(self.destination)} is corrupt: {self.offset} bytes hashing to "
                f"{received[:12]}, expected {self.size} bytes hashing to {self.digest[:12]}"
            )
        if mode is not None:
            os.chmod(self.partial, mode)
        os.replace(self.partial, self.destination)

    def close(self) -> None:
        """Stop writing, keeping the partial bytes for a later resume."""
        if not self._file.closed:
            self._file.close()

    def discard(self) -> None:
        """Stop writing and remove the partial bytes."""
        self.close()
        try:
            os.unlink(self.partial)
        except FileNotFoundError:
            pass

    def __enter__(self) -> PartialCopy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def copy_local(source: str, destination: str, digest: str, size: int, mode: int | None = None) -> None:
    """Copy a local file known to hold ``digest`` to ``destination``, verified, atomically.

    Raises:
        ContentError: the source no longer holds that content.
    """
    with open(source, "rb") as reader, PartialCopy(destination, digest, size) as copy:
        try:
            reader.seek(copy.offset)
            while block := reader.read(_HASH_READ_BYTES):
                copy.write(block)
            copy.finish(mode)
        except BaseException:
            copy.discard()  # the source is here: nothing is worth keeping to resume from
            raise


def same_content(path: str, digest: str, size: int) -> bool:
    """Whether the regular file ``path`` exists and holds exactly ``digest``."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_size == size and sha256_file(path) == digest


def staging_folder(destination: str, files: Iterable[Any]) -> str:
    """Where a folder for ``destination`` is built (the same place for the same content: a rebuild resumes)."""
    parent, name = os.path.split(destination.rstrip("/"))
    signature = uuid.uuid5(uuid.NAMESPACE_URL, "\n".join(f"{f.path}:{f.digest}" for f in files)).hex[:12]
    return os.path.join(parent, f".{name}.{signature}.partial-dir")


def make_dirs(root: str, dirs: Iterable[str]) -> None:
    """Create ``root`` and the folders ``dirs`` (relative, checked) inside it."""
    os.makedirs(root, exist_ok=True)
    for relative in dirs:
        os.makedirs(os.path.join(root, check_relative(relative, "folder")), exist_ok=True)


def swap_in(staging: str, destination: str) -> None:
    """Replace ``destination`` (a file or a folder, if any) by the folder ``staging``."""
    trash = None
    if os.path.lexists(destination):
        trash = f"{staging}.old"
        os.rename(destination, trash)
    os.rename(staging, destination)
    if trash is not None:
        if os.path.isdir(trash) and not os.path.islink(trash):
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.unlink(trash)
