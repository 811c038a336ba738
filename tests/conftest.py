"""Suite-wide settings: make the repository importable for ``tests.helpers``, and keep the suite out of the real
home directory.

Every test and every process a test starts sees ``HOME`` pointing at a folder of this session's own (tests that
need a home of their own still set one), so what lightning-ctl and lightning-agent keep in ``~/.lightning-ctl`` and
``~/.lightning-agent`` (tokens, run files, checkpoints, agent homes) never lands in the user's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# The fixtures the suites share, defined beside the harness they set up: `launch` (an app run), `cluster` (a
# control plane and separate agents), `faults` (a cluster for fault tests). Registered here, so that test modules
# take them as arguments without importing them.
pytest_plugins = ("tests.e2e", "tests.helpers.agents", "tests.helpers.fault_cluster")


@pytest.fixture(scope="session", autouse=True)
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """HOME for the whole session: a temporary folder, restored afterwards."""
    home = tmp_path_factory.mktemp("session-home")
    real = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        yield home
    finally:
        if real is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = real

