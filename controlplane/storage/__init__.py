"""The app's store of files (artifacts of works, Drives): where it is, and opening it.

By default a folder of the app's home, ``~/.lightning-ctl/apps/<digest>/storage``; ``lightning-ctl run --storage URL``
puts it at any fsspec URL instead (``s3://bucket/prefix``, with ``--storage-option endpoint_url=...`` for an
S3-compatible server). The URL (never credentials) is recorded in the app's home, so that ``lightning-ctl ls/cp``
find the store after the app ended.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lightning_ctl.controlplane.storage.backends import open_backend
from lightning_ctl.controlplane.storage.store import ArtifactStore
from lightning_ctl.sdk._files import write_atomic

__all__ = ["STORE_RECORD", "ArtifactStore", "open_store", "record_store", "recorded_store", "start_afresh"]

STORE_RECORD = "storage.json"
_STORE_FOLDER = "storage"
_STAGING_FOLDER = "storage-staging"


def open_store(app_folder: Path, url: str | None = None, options: dict[str, Any] | None = None) -> ArtifactStore:
    """The store of the app whose home is ``app_folder``: its default folder, or ``url``.

    Raises:
        MisconfigurationException: ``url`` needs fsspec (or a protocol package) that is not installed.
    """
    backend = open_backend(url, app_folder / _STORE_FOLDER, options)
    staging = app_folder / _STORE_FOLDER / ".staging" if url is None else app_folder / _STAGING_FOLDER
    return ArtifactStore(backend, staging)


_SECRET_WORDS = ("key", "secret", "token", "password", "credential")


def record_store(app_folder: Path, url: str | None, options: dict[str, Any] | None) -> None:
    """Remember where the app's store is (``url``, with its options but secrets) for ``ls``/``cp`` later."""
    kept = {k: v for k, v in (options or {}).items() if not any(word in k.lower() for word in _SECRET_WORDS)}
    write_atomic(app_folder / STORE_RECORD, json.dumps({"url": url, "options": kept}))


def recorded_store(app_folder: Path) -> ArtifactStore:
    """The store the app of ``app_folder`` used last (its default folder when nothing was recorded)."""
    try:
        record = json.loads((app_folder / STORE_RECORD).read_text())
        url, options = record.get("url"), record.get("options") or {}
    except (OSError, ValueError):
        url, options = None, {}
    if url is not None and "://" not in url:
        url = os.path.abspath(url)
    return open_store(app_folder, url, options)


def start_afresh(store: ArtifactStore) -> int:
    """Forget the previous run's artifacts and the blobs only they used (Drives stay); how many blobs went."""
    store.drop_artifacts()
    return store.collect_garbage()
