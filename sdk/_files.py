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
