"""Where lightning-ctl keeps what outlives one command on this machine: the token, run files, each app's folder.

Everything lives under ``~/.lightning-ctl`` (looked up at each call, so that a HOME set by a test or a user
counts):

    ~/.lightning-ctl/token                 the operator's token (0600)
    ~/.lightning-ctl/run.json, runs/       how operating commands find the app running here (see run_file)
    ~/.lightning-ctl/apps/<digest>/        one app file: its checkpoint and its local agent's home
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def home() -> Path:
    """``~/.lightning-ctl``."""
    return Path.home() / ".lightning-ctl"


def token_file() -> Path:
    """The file holding the operator's token."""
    return home() / "token"


def app_home(app_path: str) -> Path:
    """The folder of one app file (its checkpoint, its local agent's home), keyed by the file's absolute path."""
    digest = hashlib.sha256(os.path.abspath(app_path).encode()).hexdigest()[:16]
    return home() / "apps" / digest
