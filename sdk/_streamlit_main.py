"""What ``streamlit run`` runs for a StreamlitFrontend: the user's render function with the flow's AppState.

Streamlit runs this file again on every interaction; each run reads the app's state afresh.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from lightning_ctl.sdk import _compat
from lightning_ctl.sdk._app_state import AppState
from lightning_ctl.sdk._frontend import FLOW_NAME_VAR, RENDER_FUNCTION_VAR, RENDER_MODULE_FILE_VAR


def _render_function():  # noqa: ANN202 - the user's function
    path = os.environ[RENDER_MODULE_FILE_VAR]
    name = "_lightning_ctl_frontend_" + os.path.splitext(os.path.basename(path))[0]
    module = sys.modules.get(name)
    if module is None:
        _compat.install()
        sys.path.insert(0, os.path.dirname(path))
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return getattr(module, os.environ[RENDER_FUNCTION_VAR])


def main() -> None:
    """Render the flow's UI once (one Streamlit run)."""
    flow_path = tuple(os.environ[FLOW_NAME_VAR].split(".")[1:])
    _render_function()(AppState(my_affiliation=flow_path))


main()
