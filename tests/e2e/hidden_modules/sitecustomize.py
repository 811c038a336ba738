"""Makes the modules named in ``LIGHTNING_CTL_TEST_HIDDEN_MODULES`` (comma-separated) absent from this interpreter.

Put this folder first on ``PYTHONPATH`` to run a process as on a machine without an optional library: an import of a
hidden module raises ModuleNotFoundError and ``importlib.util.find_spec`` answers None, as if it were not installed.
"""

import os
import sys

for _name in filter(None, os.environ.get("LIGHTNING_CTL_TEST_HIDDEN_MODULES", "").split(",")):
    sys.modules[_name] = None  # type: ignore[assignment]
