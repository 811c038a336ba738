"""The app file's own command line: what ``sys.argv`` holds while an app file loads, in every process.

``lightning-ctl run app.py -- --use_gpu`` puts ``["--use_gpu"]`` (JSON) in ``LIGHTNING_CTL_APP_ARGV``, an app
environment variable that reaches the control plane, the fork server and every work process; each of them loads
the app file with ``sys.argv == ["app.py", "--use_gpu"]``, as ``python app.py --use_gpu`` would, so module-level
``argparse`` code builds the same app everywhere.
"""

from __future__ import annotations

import json
import os

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
