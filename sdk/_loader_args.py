"""What an app file sees while lightning-ctl loads it, in every process.

Its own command line (``sys.argv``), and whether it is being loaded at all (:func:`is_loading_app`).

``lightning-ctl run app.py -- --use_gpu`` puts ``["--use_gpu"]`` (JSON) in ``LIGHTNING_CTL_APP_ARGV``, an app
environment variable that reaches the control plane, the fork server and every work process; each of them loads
the app file with ``sys.argv == ["app.py", "--use_gpu"]``, as ``python app.py --use_gpu`` would, so module-level
``argparse`` code builds the same app everywhere.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import Iterator

APP_ARGV_VARIABLE = "LIGHTNING_CTL_APP_ARGV"


def app_argv() -> list[str]:
    """The app's own arguments (after the file name), from the environment; [] when there are none."""
    text = os.environ.get(APP_ARGV_VARIABLE, "")
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return [str(item) for item in value] if isinstance(value, list) else []


_loading_depth = 0
"""How many app files lightning-ctl is executing right now (in this process)."""


@contextmanager
def loading_app() -> Iterator[None]:
    """While inside, :func:`is_loading_app` is True (``load_app`` executes the app file inside)."""
    global _loading_depth
    _loading_depth += 1
    try:
        yield
    finally:
        _loading_depth -= 1


def is_loading_app() -> bool:
    """Whether lightning-ctl is executing an app file (the control plane, a fork server or a work process loading it).

    Code at the file's top level then runs as part of loading, not as a script of its own.
    """
    return _loading_depth > 0
