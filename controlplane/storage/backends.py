"""Where the store's objects live: a folder (the default, in the control plane's home) or any fsspec URL.

Both offer the same few blocking operations on keys (POSIX paths relative to the store's root). Every write is
atomic: an object is absent or whole. A folder (and ``file://``) writes a temporary object and renames it; an object
store (S3 and friends) makes an upload visible only once it completed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from lightning_ctl.sdk.errors import MisconfigurationException

FSSPEC_EXTRA = "storage"
"""The pyproject extra that installs fsspec (and s3fs): ``pip install 'lightning-ctl[storage]'``."""
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oci", "r2"})


class Backend(Protocol):
    """The operations the store needs."""

    description: str
    """Where the objects are, for messages (a folder or a URL; never credentials)."""

    def exists(self, key: str) -> bool:
        """Whether the object exists."""

    def open_read(self, key: str, offset: int = 0) -> BinaryIO:
        """The object for reading, positioned at ``offset``."""

    def read_bytes(self, key: str) -> bytes | None:
        """The whole (small) object, or None when absent."""

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write a (small) object atomically."""

    def put_file(self, local_path: str, key: str) -> None:
        """Store the local file as the object ``key`` atomically (the local file is consumed)."""

    def list(self, prefix: str) -> list[str]:
        """Every key under the folder ``prefix`` (recursively), sorted."""

    def delete(self, key: str) -> None:
        """Remove the object (nothing if absent)."""

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under the folder ``prefix``."""


class LocalBackend:
    """Objects as files under a folder."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Use (and create) the folder ``root``."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.description = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def exists(self, key: str) -> bool:
        """Whether the file of ``key`` exists under the folder."""
        return self._path(key).is_file()

    def open_read(self, key: str, offset: int = 0) -> BinaryIO:
        """The file of ``key`` opened for reading at ``offset`` (the caller closes it)."""
        reader = open(self._path(key), "rb")  # noqa: SIM115 - the caller closes it
        reader.seek(offset)
        return reader

    def read_bytes(self, key: str) -> bytes | None:
        """The whole file of ``key``, or None when absent."""
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write the file of ``key`` through a temporary file renamed into place."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with open(temporary, "wb") as file:
                file.write(data)
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def put_file(self, local_path: str, key: str) -> None:
        """Move the local file to ``key`` (rename, or copy and rename across filesystems)."""
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(local_path, target)
        except OSError:  # another filesystem: copy beside the target, then rename
            temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
            try:
                shutil.copyfile(local_path, temporary)
                os.replace(temporary, target)
            finally:
                temporary.unlink(missing_ok=True)
            os.unlink(local_path)

    def list(self, prefix: str) -> list[str]:
        """Every key under the folder ``prefix``, sorted, temporaries left out."""
        base = self._path(prefix)
        if not base.is_dir():
            return []
        keys = []
        for folder, _, names in os.walk(base):
            for name in names:
                if not name.startswith("."):  # temporaries
                    keys.append(Path(folder, name).relative_to(self.root).as_posix())
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Remove the file of ``key`` (nothing if absent)."""
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        """Remove the folder ``prefix`` and everything in it."""
        shutil.rmtree(self._path(prefix), ignore_errors=True)


class FsspecBackend:
    """Objects under an fsspec URL (``s3://bucket/prefix``, ``file:///srv/store``, ...)."""

    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        """Open the filesystem of ``url``.

        Args:
            url: The store's root.
            options: Keyword arguments for the filesystem (e.g. ``endpoint_url`` for an S3-compatible server).

        Raises:
            MisconfigurationException: fsspec (or the protocol's package) is not installed, or the URL is invalid.
        """
        try:
            import fsspec
        except ImportError:
            raise MisconfigurationException(
                f"--storage {url}: fsspec is not installed; install the extra: pip install "
                f"'lightning-ctl[{FSSPEC_EXTRA}]'"
            ) from None
        try:
            self.fs, base = fsspec.core.url_to_fs(url, **(options or {}))
        except ImportError as exc:
            raise MisconfigurationException(
                f"--storage {url}: the package for this protocol is missing ({exc}); for S3 install the extra: "
                f"pip install 'lightning-ctl[{FSSPEC_EXTRA}]'"
            ) from None
        except (ValueError, TypeError) as exc:
            raise MisconfigurationException(f"--storage {url}: {exc}") from None
        self.base = base.rstrip("/")
        protocols = self.fs.protocol if isinstance(self.fs.protocol, (tuple, list)) else (self.fs.protocol,)
        self._is_object_store = bool(set(protocols) & _OBJECT_STORES)
        self.description = url

    def _path(self, key: str) -> str:
        return f"{self.base}/{key}"

    def exists(self, key: str) -> bool:
        """Whether the object ``key`` exists under the URL."""
        return bool(self.fs.isfile(self._path(key)))

    def open_read(self, key: str, offset: int = 0) -> BinaryIO:
        """The object ``key`` opened for reading at ``offset`` (the caller closes it)."""
        reader = self.fs.open(self._path(key), "rb")
        reader.seek(offset)
        return reader

    def read_bytes(self, key: str) -> bytes | None:
        """The whole object ``key``, or None when absent."""
        try:
            return bytes(self.fs.cat_file(self._path(key)))
        except FileNotFoundError:
            return None

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write the object ``key`` (object stores write whole; filesystems through a rename)."""
        if self._is_object_store:
            self.fs.pipe_file(self._path(key), data)
            return
        temporary = self._temporary(key)
        self.fs.makedirs(self.fs._parent(temporary), exist_ok=True)
        self.fs.pipe_file(temporary, data)
        self.fs.mv(temporary, self._path(key))

    def put_file(self, local_path: str, key: str) -> None:
        """Upload the local file to ``key``, then remove the local file."""
        target = self._path(key)
        if self._is_object_store:
            self.fs.put_file(local_path, target)
        else:
            temporary = self._temporary(key)
            self.fs.makedirs(self.fs._parent(target), exist_ok=True)
            self.fs.put_file(local_path, temporary)
            self.fs.mv(temporary, target)
        os.unlink(local_path)

    def _temporary(self, key: str) -> str:
        folder, _, name = self._path(key).rpartition("/")
        return f"{folder}/.{name}.{uuid.uuid4().hex[:8]}.tmp"

    def list(self, prefix: str) -> list[str]:
        """Every key under the folder ``prefix``, sorted, temporaries left out."""
        root = self._path(prefix)
        try:
            found = self.fs.find(root)
        except FileNotFoundError:
            return []
        keys = []
        start = len(self.base) + 1
        for path in found:
            key = path[start:] if path.startswith(self.base + "/") else path
            if not key.rpartition("/")[2].startswith("."):
                keys.append(key)
        return sorted(keys)

    def delete(self, key: str) -> None:
        """Remove the object ``key`` (nothing if absent)."""
        try:
            self.fs.rm_file(self._path(key))
        except FileNotFoundError:
            pass

    def delete_prefix(self, prefix: str) -> None:
        """Remove every object under the folder ``prefix``."""
        try:
            self.fs.rm(self._path(prefix), recursive=True)
        except FileNotFoundError:
            pass


def open_backend(url: str | None, default_folder: str | os.PathLike[str], options: dict[str, Any] | None = None
                 ) -> LocalBackend | FsspecBackend:
    """The backend of ``--storage URL``, or the default folder when ``url`` is None.

    A plain folder path or ``file://`` works without fsspec too.
    """
    if url is None:
        return LocalBackend(default_folder)
    if "://" not in url:
        return LocalBackend(os.path.abspath(url))
    return FsspecBackend(url, options)
