"""Path: a ``pathlib.Path`` that remembers which work made it, so that any other work can get its file or folder.

A Path assigned to a work's attribute (or created by a work and passed to another work's ``run()``) names its
*origin*, the work whose machine has the file. The origin persists it to the app's store after each successful call
and when stopped; a *consumer* on any machine gets it, at the same relative path in its own working directory,
before its ``run()`` starts (``run()`` arguments) or with :meth:`Path.get`.

``Path("lit://name")`` is ``<STORAGE_ROOT_DIR or .storage>/name``: a relative path, so that it names the same place
relative to every work's working directory.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pathlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from lightning_ctl.sdk._storage import PATH_KIND, Handed, get_storage, require_work_process

__all__ = ["LIT_PREFIX", "Path"]

LIT_PREFIX = "lit://"
PATH_TYPE = "__path__"
"""The ``type`` tag of a Path in the state's JSON (``to_dict()`` itself has the former framework's four keys)."""

_PathBase: type = type(pathlib.Path())  # PosixPath (or WindowsPath)


def _storage_root() -> str:
    """``STORAGE_ROOT_DIR`` (default ``.storage``), created as the former framework did.

    Created so that ``open(path, "w")`` works at once.
    """
    root = os.environ.get("STORAGE_ROOT_DIR", ".storage")
    os.makedirs(root, exist_ok=True)
    return root


def _rewrite(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``("lit://a/b", ...)`` as ``(<storage root>, "a/b", ...)``."""
    if args and isinstance(args[0], str) and args[0].startswith(LIT_PREFIX):
        rest = args[0][len(LIT_PREFIX):]
        return (_storage_root(), *((rest,) if rest else ()), *args[1:])
    return args


class Path(_PathBase, Handed):
    """A drop-in :class:`pathlib.Path` whose file or folder any work of the app can get.

    Args:
        *args: What :class:`pathlib.Path` takes; a first part starting with ``lit://`` is placed under the storage
            root (``STORAGE_ROOT_DIR``, default ``.storage``).

    Raises:
        TypeError: the parts are Paths of different origins.
    """

    # A default for instances pathlib builds without calling our constructor (3.10/3.11 derived paths).
    _metadata: dict[str, Any] | None = None

    if sys.version_info >= (3, 12):  # pragma: no cover - the test machine runs 3.11

        def __init__(self, *args: Any) -> None:
            super().__init__(*_rewrite(args))
            self._adopt_parts(args)

        def with_segments(self, *segments: Any) -> Path:
            """Every derived path (``/``, ``parent``, ``with_name``...) keeps the origin and consumer."""
            derived = type(self)(*segments)
            derived._copy_storage_from(self)
            return derived

    else:

        def __new__(cls, *args: Any, **kwargs: Any) -> Path:
            path = super().__new__(cls, *_rewrite(args))
            path._adopt_parts(args)
            return path

    def _adopt_parts(self, args: tuple[Any, ...]) -> None:
        """Take the origin and consumer of the Paths this one is made from (they must agree)."""
        parts = [part for part in args if isinstance(part, Path)]
        if not parts:
            return
        origins = {part.origin_name for part in parts if part._origin is not None}
        if len(origins) > 1:
            raise TypeError(
                f"a Path cannot be made of Paths of different works ({', '.join(sorted(map(str, origins)))})"
            )
        self._copy_storage_from(parts[0])

    def _copy_storage_from(self, other: Path) -> None:
        self._origin = other._origin
        self._consumer = other._consumer
        self._metadata = other._metadata

    # -- who has the file -----------------------------------------------------------------------------------------

    @property
    def metadata(self) -> dict[str, Any]:
        """Free-form metadata carried with the Path in the state (``{}`` by default)."""
        return self._metadata if self._metadata is not None else {}

    @property
    def hash(self) -> str | None:
        """Identifies the (origin, path) pair; None while the Path has no origin."""
        if self._origin is None:
            return None
        return hashlib.sha1(f"{self.origin_name}/{self}".encode()).hexdigest()

    def _sanitize(self) -> None:
        """Keep only names (no component objects), e.g. before the Path crosses a process."""
        self._origin = self.origin_name
        self._consumer = self.consumer_name

    # -- existence and transfer -----------------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the file or folder exists here, or else can be got from its origin."""
        return self.exists_local() or (self._origin is not None and self.exists_remote())

    def exists_local(self) -> bool:
        """Whether the file or folder exists on this machine."""
        return super().exists()

    def exists_remote(self) -> bool:
        """Whether the origin persisted the file or folder (or, running, can still hand it over).

        Raises:
            RuntimeError: the Path has no origin, or this is the flow's process.
        """
        self._check_transferable("exists_remote")
        return get_storage().artifact_exists(self.origin_name or "", PATH_KIND, str(self))

    def get(self, overwrite: bool = False) -> None:
        """Copy the file or folder from its origin to this path on this machine.

        Args:
            overwrite: Replace what exists here already (otherwise that is an error).

        Raises:
            RuntimeError: called in the flow's process, or the Path has no origin.
            FileExistsError: the path exists here and ``overwrite`` is False.
            lightning_ctl.sdk.errors.ArtifactNotFoundError: the origin never persisted it and cannot hand it over.
            lightning_ctl.sdk.errors.TransferError: the copy failed (the message names the work, the path and why).
        """
        self._check_transferable("get")
        if self.exists_local() and not overwrite:
            raise FileExistsError(
                f"{self} exists on this machine already; pass get(overwrite=True) to replace it with the copy of "
                f"{self.origin_name}"
            )
        get_storage().fetch(self.origin_name or "", PATH_KIND, str(self), os.path.abspath(self))

    def _check_transferable(self, method: str) -> None:
        require_work_process(f"Path.{method}()")
        if self._origin is None:
            raise RuntimeError(
                f"Path.{method}(): {self} is not attached to a work: assign it to a work's attribute or pass it to "
                "a work's run()"
            )

    # -- serialization --------------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """``{"path", "origin_name", "consumer_name", "metadata"}``, as the former framework has it."""
        return {
            "path": str(self),
            "origin_name": self.origin_name,
            "consumer_name": self.consumer_name,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> Path:
        """A Path from what :meth:`to_dict` (or the state) holds."""
        path = cls(content["path"])
        path._origin = content.get("origin_name")
        path._consumer = content.get("consumer_name")
        path._metadata = dict(content.get("metadata") or {})
        return path

    def __json__(self) -> dict[str, Any]:
        """The Path in the state's JSON: ``to_dict()`` tagged with ``"type": "__path__"``."""
        return {"type": PATH_TYPE, **self.to_dict()}

    def __reduce__(self) -> tuple[Callable[..., Path], tuple[dict[str, Any]]]:
        return Path.from_dict, (self.to_dict(),)

    if sys.version_info < (3, 12):

        @property
        def parent(self) -> Path:
            """The logical parent, keeping the origin and consumer."""
            parent = super().parent
            parent._copy_storage_from(self)
            return parent

        @property
        def parents(self) -> Sequence[Path]:
            """The logical ancestors, each keeping the origin and consumer."""
            parents = list(super().parents)
            for parent in parents:
                parent._copy_storage_from(self)
            return parents


def _keeping_storage(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def derived(self: Path, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        if isinstance(result, Path):
            result._copy_storage_from(self)
        return result

    return derived


if sys.version_info < (3, 12):
    # 3.10/3.11 build derived paths without calling the constructor: each of them copies the origin over.
    for _name in ("__truediv__", "__rtruediv__", "joinpath", "with_name", "with_stem", "with_suffix", "relative_to",
                  "absolute", "resolve", "expanduser"):
        setattr(Path, _name, _keeping_storage(getattr(_PathBase, _name)))
