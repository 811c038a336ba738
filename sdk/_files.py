"""Small file helpers both daemons use: writes that are atomic, and values created once and kept."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def write_atomic(path: str | os.PathLike[str], text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` so that a crash leaves the old content or the new one, never half of it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.replace(temporary, target)


def read_or_create(path: str | os.PathLike[str], make: Callable[[], str]) -> str:
    """The value kept in ``path``; made with ``make`` and kept (owner-only) when there is none yet."""
    try:
        existing = Path(path).read_text().strip()
        if existing:
            return existing
    except FileNotFoundError:
        pass
    value = make()
    write_atomic(path, value + "\n")
    return value


class LockHeld(OSError):
    """Another process holds the lock."""

    def __init__(self, path: Path, holder_pid: int | None) -> None:
        super().__init__(f"{path} is locked by {f'process {holder_pid}' if holder_pid else 'another process'}")
        self.path = path
        self.holder_pid = holder_pid


class FileLock:
    """An exclusive lock on a file (``flock``), held until :meth:`release` or until this process ends.

    However the process ends, the kernel drops the lock with it, so a crash never leaves a stale lock behind.

    The file records the holder's pid, for messages. Children never inherit it (the descriptor is close-on-exec).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Take the lock now.

        Raises:
            LockHeld: another process holds it.
        """
        import fcntl

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(self._fd)
            os.close(self._fd)
            raise LockHeld(self.path, holder) from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None


def raise_open_files_limit() -> int:
    """Raise this process's soft open-files limit to its hard limit; the soft limit now.

    A common default is a soft 1024, far too few for hundreds of works or agents. ``resource.RLIM_INFINITY``
    means unlimited.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft
