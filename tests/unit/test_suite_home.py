"""The test suite keeps out of the real home directory (tests/conftest.py points HOME at a session folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_path_home_is_the_sessions_folder(session_home: Path) -> None:
    """Path.home() inside the suite is the session's folder, not the user's."""
    assert Path.home() == session_home


def test_processes_started_by_tests_inherit_it(session_home: Path) -> None:
    """A process a test starts without its own HOME (a lightning-ctl, an agent) sees the session's folder too."""
    seen = subprocess.run([sys.executable, "-c", "from pathlib import Path; print(Path.home())"],
                          env=dict(os.environ), capture_output=True, text=True, check=True).stdout.strip()
    assert seen == str(session_home)
