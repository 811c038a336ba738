"""The format of the files in which agents keep each work's output.

Shared by the agent that writes them and the ``lightning-ctl logs`` that reads them after an app ended.

``<agent home>/logs/<work_name>/<attempt>.log``, rotated as ``<attempt>.log.1`` (newer) … ``.log.<n>`` (older),
one line per output line: ``<UTC time> <stdout|stderr> <text>``, e.g.
``2025-01-31T14:03:12.345Z stdout epoch 3 done``.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Sequence

DIR_NAME = "logs"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def logs_dir(agent_home: str | os.PathLike[str]) -> Path:
    """Where an agent keeps works' output files: ``<agent home>/logs``."""
    return Path(agent_home) / DIR_NAME


def log_path(root: Path, work_name: str, attempt: int) -> Path:
    """The file of (work_name, attempt) under ``root`` (a work name never reaches outside it)."""
    safe_name = work_name.replace(os.sep, "_")
    return root / safe_name / f"{attempt}.log"


def format_lines(stream: str, lines: Sequence[str], now: datetime.datetime) -> bytes:
    """``lines`` the work wrote to ``stream`` at ``now`` (UTC), as they go into the file."""
    prefix = now.strftime(_TIME_FORMAT) + f".{now.microsecond // 1000:03d}Z {stream} "
    return "".join(f"{prefix}{line}\n" for line in lines).encode("utf-8", errors="replace")


def parse_line(line: str) -> tuple[float, str, str] | None:
    """``(epoch seconds, stream, text)`` of one line of a file, or None if it is not one of ours."""
    stamp, _, rest = line.partition(" ")
    stream, _, text = rest.partition(" ")
    if stream not in ("stdout", "stderr") or not stamp.endswith("Z"):
        return None
    try:
        moment = datetime.datetime.strptime(stamp[:-1], _TIME_FORMAT + ".%f")
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.timezone.utc).timestamp(), stream, text
