"""Mount: the former framework's S3 bucket mounted into a cloud work. Accepted as a value, refused on a work.

``Mount(source="s3://bucket/prefix/", mount_path="/data/x")`` is checked as the former framework checked it, so
apps that build one still load up to the point where it would be used. lightning-ctl mounts nothing into a work's
process (works run as plain processes under an agent, with no FUSE or volume driver to call on), so a work whose
``CloudCompute(mounts=...)`` holds one is refused once it joins the app, naming the work and what to use instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from lightning_ctl.sdk.errors import NotSupportedError

__all__ = ["Mount", "refuse_mounts"]

_PROTOCOLS = ("s3://",)


@dataclass
class Mount:
    """An S3 folder the former framework mounted into a cloud work (not supported by lightning-ctl).

    Args:
        source: ``s3://bucket/prefix/`` (a folder: it ends with ``/``).
        mount_path: An absolute path in the work; ``/data/<last folder of the source>`` by default.

    Raises:
        ValueError: the source is not an ``s3://`` folder, or the mount path is not absolute.
    """

    source: str = ""
    mount_path: str = ""

    def __post_init__(self) -> None:
        if not self.source.startswith(_PROTOCOLS):
            raise ValueError(f"Mount(source={self.source!r}): the source must start with one of {list(_PROTOCOLS)}")
        if not self.source.endswith("/"):
            raise ValueError(f"Mount(source={self.source!r}): an S3 mount is a folder and must end with '/'")
        if not self.mount_path:
            self.mount_path = f"/data/{PurePosixPath(self.source).stem}"
        if not os.path.isabs(self.mount_path):
            raise ValueError(f"Mount(mount_path={self.mount_path!r}) must be an absolute path")

    @property
    def protocol(self) -> str:
        """The storage protocol of the source (``"s3://"``)."""
        return next((p for p in _PROTOCOLS if self.source.startswith(p)), "")


def refuse_mounts(work_name: str, mounts: Any) -> None:
    """Refuse a work whose CloudCompute has mounts (once the work has its name in the app).

    Raises:
        NotSupportedError: ``mounts`` is not empty; the message names the work, the mounts and what to use instead.
    """
    if not mounts:
        return
    listed = mounts if isinstance(mounts, (list, tuple)) else [mounts]
    described = ", ".join(_describe(mount) for mount in listed)
    raise NotSupportedError(
        f"{work_name}: CloudCompute(mounts=...) cannot be honoured: lightning-ctl mounts nothing into a work's process "
        f"({described}). Read the bucket from the work instead (e.g. fsspec/s3fs: `pip install "
        "'lightning-ctl[storage]'`), share files between works with a Drive or Paths (their store can itself be a "
        "bucket: `lightning-ctl run --storage s3://bucket/prefix`), or mount the bucket on the agents' machines "
        "yourself (s3fs, goofys) and read that folder"
    )


def _describe(mount: Any) -> str:
    if isinstance(mount, dict):
        source, path = mount.get("source"), mount.get("mount_path")
    else:
        source, path = getattr(mount, "source", None), getattr(mount, "mount_path", None)
    return f"{source} at {path}"
