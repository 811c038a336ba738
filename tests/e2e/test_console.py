"""End-to-end: the console of ``lightning-ctl run`` is a reader like any other; when it goes away the app goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid

import pytest

from tests.e2e import APPS, TAG_VAR, tagged
from tests.helpers.processes import LIGHTNING_CTL


@pytest.mark.e2e
def test_a_closed_console_does_not_fail_the_app(tmp_path) -> None:
    """`lightning-ctl run app.py 2>&1 | grep -q MARKER`: the app still runs to its end and exits 0 (the flow, the
    works and the control plane keep printing into a pipe nobody reads)."""
    tag = uuid.uuid4().hex
    env = {**os.environ, "HOME": str(tmp_path), TAG_VAR: tag}
    proc = subprocess.Popen([LIGHTNING_CTL, "run", str(APPS / "talks_after_marker.py"), "--stop-grace", "2"],
                            cwd=APPS, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            if b"MARKER" in raw:
                break
        proc.stdout.close()  # the reader leaves, as grep -q does
        assert proc.wait(timeout=30) == 0
    finally:
        for pid in {proc.pid} | tagged(tag):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
