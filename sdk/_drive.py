"""Drive: a folder shared by the works of an app, on any machine, kept in the app's store.

Each component writes in its own part of the Drive (the former framework's semantics): ``put`` and ``delete`` touch
the caller's part only; ``list`` and ``get`` see every component's part, or one's when ``component_name`` is given.
A Drive assigned to a component is copied and stamped with that component's name. Its methods work inside a work's
``run()`` (any agent); the flow can hold a Drive and hand it to works, but not use it.

``lightning-ctl ls lit://NAME`` and ``lightning-ctl cp lit://NAME/PATH ./here`` read it from anywhere, during the run
and after it ended.
"""

from __future__ import annotations

import copy
import os
import pathlib
import posixpath
from typing import Any

from lightning_ctl.sdk._storage import get_storage, require_work_process

__all__ = ["Drive", "drive_children", "normalize_drive_path"]

DRIVE_TYPE = "__drive__"


def normalize_drive_path(path: str, what: str = "path") -> str:
    """``path`` as a clean POSIX path relative to a Drive's root ("." for the root itself).

    Raises:
        ValueError: the path is absolute or climbs out of the Drive with "..".
    """
    text = str(path).replace(os.sep, "/")
    if text.startswith("/"):
        raise ValueError(f"Drive {what} {path!r} must be relative to the Drive's root_folder, not absolute")
    clean = posixpath.normpath(text) if text else "."
    if clean == ".." or clean.startswith("../"):
        raise ValueError(f"Drive {what} {path!r} leaves the Drive's root_folder")
    return clean


class Drive:
    """Files shared by the works of an app (``Drive("lit://name")``).

    Args:
        id: ``lit://`` followed by the Drive's name (no ``/`` in it).
        allow_duplicates: Whether a component may put a path another component already put.
        component_name: The component whose part of the Drive ``put``/``delete`` use (set when assigned).
        root_folder: The local folder paths are relative to (default: the working directory at use time).

    Raises:
        ValueError: an ``s3://`` id (mount the bucket instead), another protocol, an empty name or one with ``/``,
            or a ``root_folder`` that is not a folder.
    """

    __IDENTIFIER__ = DRIVE_TYPE
    __PROTOCOLS__ = ["lit://"]

    def __init__(
        self,
        id: str,
        allow_duplicates: bool = False,
        component_name: str | None = None,
        root_folder: str | None = None,
    ) -> None:
        if id.startswith("s3://"):
            raise ValueError(
                f"Drive({id!r}): S3 buckets are not Drives; lightning-ctl keeps Drives in the app's store "
                "(lightning-ctl run --storage s3://bucket/prefix puts the whole store in a bucket)"
            )
        protocol = next((p for p in self.__PROTOCOLS__ if id.startswith(p)), None)
        if protocol is None:
            raise ValueError(f"Drive({id!r}): the id must start with one of {self.__PROTOCOLS__}")
        name = id[len(protocol):]
        if not name:
            raise ValueError(f"Drive({id!r}): the id needs a name after {protocol}")
        if "/" in name:
            raise ValueError(f"Drive({id!r}): the name must not contain '/'")
        if root_folder is not None and not os.path.isdir(root_folder):
            raise ValueError(f"Drive({id!r}): root_folder {root_folder!r} is not a folder")
        self.id = name
        self.protocol = protocol
        self.allow_duplicates = allow_duplicates
        self.component_name = component_name
        self._root_folder = os.path.abspath(root_folder) if root_folder is not None else None

    @property
    def root_folder(self) -> pathlib.Path:
        """The local folder paths are relative to (the working directory unless one was given)."""
        return pathlib.Path(self._root_folder or os.getcwd())

    def _local(self, path: str) -> str:
        return os.path.join(self.root_folder, normalize_drive_path(path))

    def _own_component(self, method: str) -> str:
        require_work_process(f"Drive.{method}()")
        if not self.component_name:
            raise RuntimeError(
                f"Drive.{method}(): the Drive {self.id!r} belongs to no component: assign it to a work's attribute"
            )
        return self.component_name

    def put(self, path: str) -> None:
        """Put the file or folder ``path`` (relative to ``root_folder``) in this component's part of the Drive.

        Raises:
            RuntimeError: called in the flow, or the Drive belongs to no component.
            FileNotFoundError: ``path`` does not exist locally.
            FileExistsError: another component put ``path`` already (and ``allow_duplicates`` is False).
        """
        component = self._own_component("put")
        source = self._local(path)
        if not os.path.exists(source):
            raise FileNotFoundError(f"Drive.put({path!r}): {source} does not exist")
        get_storage().drive_put(self.id, component, source, normalize_drive_path(path), self.allow_duplicates)

    def list(self, path: str = ".", component_name: str | None = None) -> list[str]:
        """The files and folders directly under ``path``, relative to each component's part of the Drive.

        Args:
            path: A folder (or file) of the Drive.
            component_name: Only this component's part (default: every component's).
        """
        require_work_process("Drive.list()")
        return get_storage().drive_list(self.id, component_name, normalize_drive_path(path))

    def get(
        self, path: str, component_name: str | None = None, timeout: float | None = None, overwrite: bool = False
    ) -> None:
        """Copy the Drive's file or folder ``path`` to ``root_folder/path``.

        Args:
            path: The file or folder, relative to the components' parts of the Drive.
            component_name: Take it from this component's part (default: the one component that has it).
            timeout: Seconds to wait for it to appear (default: it must be there now).
            overwrite: Replace a different local copy (the same content is never an error).

        Raises:
            RuntimeError: called in the flow.
            FileNotFoundError: no component has it (within ``timeout``).
            FileExistsError: several components have it (pass ``component_name``), or a different local copy exists
                and ``overwrite`` is False.
        """
        require_work_process("Drive.get()")
        get_storage().drive_get(
            self.id, component_name, normalize_drive_path(path), self._local(path), float(timeout or 0.0), overwrite
        )

    def delete(self, path: str) -> None:
        """Delete ``path`` (a file or a folder) from this component's part of the Drive.

        Raises:
            RuntimeError: called in the flow, or the Drive belongs to no component.
            FileNotFoundError: this component has no such path in the Drive.
        """
        component = self._own_component("delete")
        get_storage().drive_delete(self.id, component, normalize_drive_path(path))

    def to_dict(self) -> dict[str, Any]:
        """The Drive in the state.

        ``{"type": "__drive__", "id", "protocol", "allow_duplicates", "component_name", "root_folder"}``
        (``root_folder`` None: the working directory of whichever work uses it).
        """
        return {
            "type": DRIVE_TYPE,
            "id": self.id,
            "protocol": self.protocol,
            "allow_duplicates": self.allow_duplicates,
            "component_name": self.component_name,
            "root_folder": self._root_folder,
        }

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> Drive:
        """A Drive from :meth:`to_dict` (its ``root_folder`` is not checked: it may belong to another machine)."""
        if content.get("type") != DRIVE_TYPE:
            raise ValueError(f"not a Drive: {content!r}")
        drive = cls(content.get("protocol", "lit://") + content["id"], bool(content.get("allow_duplicates")))
        drive.component_name = content.get("component_name")
        drive._root_folder = content.get("root_folder")
        return drive

    def __json__(self) -> dict[str, Any]:
        """The Drive in the state's JSON (:meth:`to_dict`)."""
        return self.to_dict()

    def _stamped(self, component: str) -> Drive:
        """A copy belonging to ``component`` (what assigning a Drive to a component stores)."""
        drive = copy.copy(self)
        drive.component_name = component
        return drive

    def __str__(self) -> str:
        return self.id

    def __repr__(self) -> str:
        return f"Drive({self.protocol + self.id!r}, component_name={self.component_name!r})"


def drive_children(paths: list[str], folder: str) -> list[str]:
    """What ``Drive.list(folder)`` shows of files at ``paths``.

    The entries directly under ``folder`` (or the file ``folder`` itself), as component-relative paths, sorted
    and without repeats.
    """
    children = set()
    prefix = "" if folder == "." else folder + "/"
    for path in paths:
        if path == folder:
            children.add(path)
        elif path.startswith(prefix):
            children.add(prefix + path[len(prefix):].split("/", 1)[0])
    return sorted(children)
