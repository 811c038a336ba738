"""Helpers shared by the e2e apps (not an app itself): printing whole lines that tests can parse."""

from __future__ import annotations

import json
import sys
from typing import Any


def say(text: str) -> None:
    """Write one whole line and flush (one write, so it never interleaves with the console's lines)."""
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


def report(tag: str, value: Any) -> None:
    """Print ``<tag> <json value>``: what the tests read with ``tests.e2e.reported``."""
    say(f"{tag} {json.dumps(value)}")
