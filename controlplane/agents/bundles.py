r"""Code bundles: the app's folder as one deterministic, content-addressed ``.tar.gz`` for remote agents.

What goes in is decided by :data:`DEFAULT_IGNORES`, virtual environments (any directory holding a
``pyvenv.cfg``) and the folder's ``.lightningignore``, a gitignore-like subset:

- one pattern per line; blank lines and lines starting with ``#`` are skipped (``\#`` and ``\!`` escape);
- a pattern without ``/`` matches a file or directory name at any depth (``fnmatch``, case-sensitive);
- a pattern with a ``/`` matches the POSIX path relative to the folder; a leading ``/`` only anchors it;
- a trailing ``/`` matches directories only;
- ``!pattern`` includes again what an earlier pattern (or a default) excluded; the last match wins;
- an excluded directory is not descended into, so nothing below it can be included again.

The same tree gives the same bytes, and so the same digest, wherever and whenever it is bundled: entries
are sorted and their metadata (times, owners, modes) normalized, and the gzip header carries no time or name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Iterable, Iterator

from lightning_ctl.controlplane.errors import BundleTooLargeError
from lightning_ctl.protos.limits import MAX_BUNDLE_BYTES, MAX_BUNDLE_FILES, MAX_BUNDLE_UNPACKED_BYTES
from lightning_ctl.sdk.errors import MisconfigurationException

__all__ = [
    "DEFAULT_IGNORES",
    "IGNORE_FILE",
    "MAX_BUNDLE_BYTES",
    "Bundle",
    "BundleTooLargeError",
    "build_bundle",
    "iter_chunks",
]

DEFAULT_IGNORES: tuple[str, ...] = (
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    "*.pyc",
    ".venv",
    "venv",
    "node_modules",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    "*.egg-info",
    ".lightning-ctl",
    ".storage",
    ".DS_Store",
)
"""Names left out of every bundle (``.lightningignore`` can bring one back with ``!name``)."""

IGNORE_FILE = ".lightningignore"

_COMPRESS_LEVEL = 6
_LARGEST_SHOWN = 3


@dataclass(frozen=True)
class Bundle:
    """A bundled app folder."""

    digest: str
    """Hex SHA-256 of ``data``: the bundle's identity."""
    data: bytes
    """The folder as a gzip-compressed tar."""
    file_count: int
    """Regular files in the bundle."""
    app_relpath: str
    """The app file's path inside the bundle (POSIX)."""


def build_bundle(
    app_file: str | Path,
    max_bytes: int = MAX_BUNDLE_BYTES,
    max_unpacked_bytes: int = MAX_BUNDLE_UNPACKED_BYTES,
    max_entries: int = MAX_BUNDLE_FILES,
) -> Bundle:
    """Bundle the folder that holds ``app_file``.

    Args:
        app_file: The app's Python file; its folder is bundled.
        max_bytes: Largest compressed size allowed.
        max_unpacked_bytes: Largest total size of the files bundled (what agents unpack).
        max_entries: Most files and folders bundled.

    Returns:
        The bundle.

    Raises:
        FileNotFoundError: ``app_file`` is not a file.
        MisconfigurationException: the ignore rules leave the app file itself out.
        BundleTooLargeError: the compressed bundle grew past ``max_bytes``, or its files past ``max_unpacked_bytes``
            or ``max_entries`` (agents refuse such bundles).
    """
    app_path = Path(os.path.abspath(app_file))
    if not app_path.is_file():
        raise FileNotFoundError(f"app file {str(app_file)!r} does not exist or is not a file")
    folder = app_path.parent
    rules = _DEFAULT_RULES + _parse_ignore_file(folder / IGNORE_FILE)
    entries = list(_walk(folder, rules))
    app_relpath = app_path.name
    if not any(entry.relpath == app_relpath and not entry.is_dir for entry in entries):
        raise MisconfigurationException(
            f"the app file {app_path} is excluded from its own bundle; check {folder / IGNORE_FILE}"
        )
    unpacked = sum(entry.size for entry in entries)
    if unpacked > max_unpacked_bytes or len(entries) > max_entries:
        raise _too_large(folder, unpacked, max_unpacked_bytes, entries, len(entries), max_entries)
    buffer = _CappedBuffer(max_bytes)
    compressed = gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=_COMPRESS_LEVEL, mtime=0)
    try:
        with tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tar:
            for entry in entries:
                _add(tar, entry)
        compressed.close()
    except _LimitReached as reached:
        raise _too_large(folder, reached.size, max_bytes, entries) from None
    finally:
        compressed.close()
    data = buffer.getvalue()
    return Bundle(
        digest=hashlib.sha256(data).hexdigest(),
        data=data,
        file_count=sum(1 for entry in entries if not entry.is_dir),
        app_relpath=app_relpath,
    )


def iter_chunks(data: bytes, chunk_bytes: int = 1 << 20) -> Iterator[bytes]:
    """``data`` in consecutive pieces of at most ``chunk_bytes`` (none for empty data).

    Raises:
        ValueError: ``chunk_bytes`` is not positive.
    """
    if chunk_bytes <= 0:
        raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
    for start in range(0, len(data), chunk_bytes):
        yield data[start : start + chunk_bytes]


@dataclass(frozen=True)
class _Rule:
    pattern: str
    negate: bool = False
    dir_only: bool = False
    anchored: bool = False
    """Matched against the relative path rather than the name."""

    def matches(self, relpath: str, name: str, is_dir: bool) -> bool:
        if self.dir_only and not is_dir:
            return False
        return fnmatchcase(relpath if self.anchored else name, self.pattern)


_DEFAULT_RULES = tuple(_Rule(pattern) for pattern in DEFAULT_IGNORES)


def _parse_ignore_file(path: Path) -> tuple[_Rule, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ()
    return tuple(_parse_ignore_lines(text.splitlines()))


def _parse_ignore_lines(lines: Iterable[str]) -> Iterator[_Rule]:
    for line in lines:
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        if negate:
            pattern = pattern[1:]
        elif pattern.startswith("\\"):
            pattern = pattern[1:]
        dir_only = pattern.endswith("/")
        pattern = pattern.rstrip("/")
        anchored = "/" in pattern
        pattern = pattern.lstrip("/")
        if pattern:
            yield _Rule(pattern, negate=negate, dir_only=dir_only, anchored=anchored)


def _is_ignored(rules: Iterable[_Rule], relpath: str, name: str, is_dir: bool, is_venv: bool) -> bool:
    ignored = is_venv
    for rule in rules:
        if rule.matches(relpath, name, is_dir):
            ignored = not rule.negate
    return ignored


@dataclass(frozen=True)
class _Entry:
    relpath: str
    source: str
    is_dir: bool
    size: int = 0
    executable: bool = False


def _walk(folder: Path, rules: tuple[_Rule, ...]) -> Iterator[_Entry]:
    """The entries to bundle, depth first, each directory before its content, names sorted."""
    real_root = os.path.realpath(folder)

    def visit(directory: str, prefix: str) -> Iterator[_Entry]:
        with os.scandir(directory) as scan:
            children = sorted(scan, key=lambda child: child.name)
        for child in children:
            relpath = prefix + child.name
            if child.is_symlink():
                if not _is_ignored(rules, relpath, child.name, False, False):
                    entry = _linked_file(child, relpath, real_root)
                    if entry is not None:
                        yield entry
            elif child.is_dir(follow_symlinks=False):
                is_venv = os.path.isfile(os.path.join(child.path, "pyvenv.cfg"))
                if not _is_ignored(rules, relpath, child.name, True, is_venv):
                    yield _Entry(relpath, child.path, is_dir=True)
                    yield from visit(child.path, relpath + "/")
            elif child.is_file(follow_symlinks=False):
                if not _is_ignored(rules, relpath, child.name, False, False):
                    yield _file_entry(relpath, child.path, child.stat(follow_symlinks=False))
            # Sockets, FIFOs and devices have no content to ship.

    yield from visit(str(folder), "")


def _linked_file(link: os.DirEntry[str], relpath: str, real_root: str) -> _Entry | None:
    """A symlink to a regular file inside the folder, as a copy of that file; None for any other link."""
    target = os.path.realpath(link.path)
    if os.path.commonpath([real_root, target]) != real_root:
        return None
    try:
        status = os.stat(target)
    except OSError:
        return None
    return _file_entry(relpath, target, status) if stat.S_ISREG(status.st_mode) else None


def _file_entry(relpath: str, source: str, status: os.stat_result) -> _Entry:
    return _Entry(relpath, source, is_dir=False, size=status.st_size, executable=bool(status.st_mode & 0o111))


def _add(tar: tarfile.TarFile, entry: _Entry) -> None:
    info = tarfile.TarInfo(entry.relpath)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry.is_dir:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        return
    info.type = tarfile.REGTYPE
    info.mode = 0o755 if entry.executable else 0o644
    with open(entry.source, "rb") as source:
        # The size written must be the size of what is read now, not of what the walk saw.
        info.size = os.fstat(source.fileno()).st_size
        tar.addfile(info, source)


class _LimitReached(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _CappedBuffer(io.BytesIO):
    """A BytesIO that refuses to grow past ``limit``: raises once, then discards whatever comes after."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit
        self._tripped = False

    def write(self, data: bytes) -> int:  # type: ignore[override]
        size = memoryview(data).nbytes
        if self._tripped:
            # Closing the gzip stream after the limit still flushes into here; dropping that bounds memory.
            return size
        if self.tell() + size > self._limit:
            self._tripped = True
            raise _LimitReached(self.tell() + size)
        return super().write(data)


def _too_large(
    folder: Path, size: int, limit: int, entries: list[_Entry], count: int | None = None, max_entries: int = 0
) -> BundleTooLargeError:
    largest = _largest_top_level(entries)
    shown = ", ".join(f"{path} ({_human(nbytes)})" for path, nbytes in largest) or "nothing but empty folders"
    if count is None:
        what = f"its compressed bundle passed {_human(size)}, over the limit of {_human(limit)}"
    elif count > max_entries:
        what = f"it holds {count} files and folders, over the limit of {max_entries}"
    else:
        what = f"its files hold {_human(size)}, over the unpacked limit of {_human(limit)}"
    message = (
        f"the app folder {folder} is too large to ship to remote agents: {what}. Largest entries included: {shown}. "
        f"List what the app does not need at run time in {folder / IGNORE_FILE} "
        f"(one pattern per line, such as 'data/' or '*.ckpt')."
    )
    return BundleTooLargeError(message, folder=str(folder), size=size, limit=limit, largest=largest)


def _largest_top_level(entries: list[_Entry]) -> tuple[tuple[str, int], ...]:
    """The largest entries at the top of the folder (directories by the files they contribute)."""
    totals: dict[str, int] = {}
    for entry in entries:
        top, _, rest = entry.relpath.partition("/")
        key = top + "/" if rest or entry.is_dir else top
        totals[key] = totals.get(key, 0) + entry.size
    ranked = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return tuple(ranked[:_LARGEST_SHOWN])


def _human(nbytes: int) -> str:
    if nbytes < 1024:
        return f"{nbytes} bytes"
    size = float(nbytes)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:.1f} {unit}"
