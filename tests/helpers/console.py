"""What no lightning-ctl or lightning-agent process may ever print: internal tracebacks and asyncio's complaints.

Every process the shared e2e helpers start is checked when it ends (and at teardown), so any e2e run that shows a
user one of our tracebacks fails, whatever the test asserts. A traceback "of ours" is one with a frame in the
product's own files (``agent/``, ``controlplane/``, ``sdk/``, ``protos/``): user tracebacks are cut to the user's
frames before they are shown, so a frame of ours in any printed traceback means an internal error leaked.
"""

from __future__ import annotations

import re
from pathlib import Path

import lightning_ctl.sdk

_ROOT = Path(lightning_ctl.sdk.__file__).resolve().parent.parent
PRODUCT_DIRS = tuple(str(_ROOT / part) + "/" for part in ("agent", "controlplane", "sdk", "protos"))
_FRAME = re.compile(r'File "([^"]+)", line \d+')
FORBIDDEN = (
    "exception was never retrieved",  # "Task exception ...", "Future exception ..."
    "Task was destroyed but it is pending",
    "Exception in thread",
    "Exception ignored in",
    "Unhandled exception in client_connected_cb",
    "Fatal Python error",
)


def internal_errors(output: str) -> list[str]:
    """The lines of ``output`` that show an internal error (with the line before each, for context)."""
    lines = output.splitlines()
    found = []
    for index, line in enumerate(lines):
        frame = _FRAME.search(line)
        ours = frame is not None and frame.group(1).startswith(PRODUCT_DIRS)
        if ours or any(marker in line for marker in FORBIDDEN):
            found.append("\n".join(lines[max(0, index - 1):index + 1]))
    return found


def assert_no_internal_errors(output: str, what: str) -> None:
    """Fail, quoting them, if ``output`` (everything ``what`` printed) shows internal errors."""
    errors = internal_errors(output)
    assert not errors, f"{what} printed internal errors:\n" + "\n---\n".join(errors[:10]) + f"\n--- output:\n{output}"
