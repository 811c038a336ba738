"""What ``streamlit run`` runs for a ServeStreamlit.

The work's ``render`` on a stand-in of the work whose attributes are the app's state (read afresh on every Streamlit
run, written back through the app's API).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from lightning_ctl.sdk._app_state import AppState
from lightning_ctl.sdk._user_files import import_user_file
from lightning_ctl.sdk.components._serve_streamlit import WORK_CLASS_VAR, WORK_MODULE_FILE_VAR, WORK_NAME_VAR


class _WorkView:
    """The work as ``render`` sees it: its state's attributes from ``state``, its methods from its class."""

    def __init__(self, state: AppState, work_class: type) -> None:
        object.__setattr__(self, "_state", state)
        object.__setattr__(self, "_work_class", work_class)

    def __getattr__(self, name: str) -> Any:
        try:
            return getattr(self._state, name)
        except AttributeError:
            attribute = inspect.getattr_static(self._work_class, name)
            if isinstance(attribute, (staticmethod, classmethod, property)) or callable(attribute):
                return attribute.__get__(self, self._work_class)
            raise

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._state, name, value)


def _work_class() -> type:
    owner: Any = import_user_file(os.environ[WORK_MODULE_FILE_VAR], "_lightning_ctl_work_")
    for part in os.environ[WORK_CLASS_VAR].split("."):
        owner = getattr(owner, part)
    return owner


def main() -> None:
    """Render the work's UI once (one Streamlit run)."""
    import streamlit

    state = AppState()
    for part in os.environ[WORK_NAME_VAR].split(".")[1:]:
        state = getattr(state, part)
    work = _WorkView(state, _work_class())
    if "_model" not in streamlit.session_state:
        streamlit.session_state["_model"] = work.build_model()
    work._model = streamlit.session_state["_model"]
    work.render()


main()
