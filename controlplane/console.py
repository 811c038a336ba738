"""The control plane's console: each line a work prints, prefixed by the work's name."""

from __future__ import annotations

import sys
from typing import TextIO

from sdk._events import LinesLogged


class Console:
    """Writes work output to ``out`` as ``<work name> | <line>``."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self._out = out

    def print_lines(self, work_name: str, logged: LinesLogged) -> None:
        """Print the lines a work wrote."""
        self._out.write("".join(f"{work_name} | {line}\n" for line in logged.lines))
        self._out.flush()
