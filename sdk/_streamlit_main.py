"""What ``streamlit run`` runs for a StreamlitFrontend: the user's render function with the flow's AppState.

Streamlit runs this file again on every interaction; each run reads the app's state afresh.
"""

from __future__ import annotations

import os

from lightning_ctl.sdk._app_state import AppState
from lightning_ctl.sdk._frontend import FLOW_NAME_VAR, RENDER_FUNCTION_VAR, RENDER_MODULE_FILE_VAR
from lightning_ctl.sdk._user_files import import_user_file


def _render_function():  # noqa: ANN202 - the user's function
    module = import_user_file(os.environ[RENDER_MODULE_FILE_VAR], "_lightning_ctl_frontend_")
    return getattr(module, os.environ[RENDER_FUNCTION_VAR])


def main() -> None:
    """Render the flow's UI once (one Streamlit run)."""
    flow_path = tuple(os.environ[FLOW_NAME_VAR].split(".")[1:])
    _render_function()(AppState(my_affiliation=flow_path))


main()
