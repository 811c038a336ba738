"""ServeStreamlit: a work serving a Streamlit UI drawn by its ``render`` (the ``streamlit`` extra).

``render`` runs in the Streamlit process (again on every interaction), on a stand-in of the work that reads and
writes the work's attributes through the app's state (``AppState``), so the UI sees what the work's run sees.
"""

from __future__ import annotations

import abc
import inspect
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from lightning_ctl.sdk._work import LightningWork
from lightning_ctl.sdk.components._extras import require

_MAIN = str(Path(__file__).with_name("_streamlit_work_main.py"))
WORK_NAME_VAR = "LIGHTNING_COMPONENT_NAME"
WORK_CLASS_VAR = "LIGHTNING_WORK"
WORK_MODULE_FILE_VAR = "LIGHTNING_WORK_MODULE_FILE"


class ServeStreamlit(LightningWork, abc.ABC):
    """A Streamlit UI.

    ``render`` draws it; ``build_model`` (optional) runs once per browser session, its result being ``self.model``. The
    UI is at the work's ``url`` and at the control plane's ``/works/<name>/``.

    Raises:
    ModuleNotFoundError: streamlit is not installed (the ``streamlit`` extra).
    """

    readiness_path = "/_stcore/health"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        require(type(self).__name__, "streamlit", "streamlit")
        kwargs.setdefault("parallel", True)  # its run serves until the work is stopped: never block the flow on it
        super().__init__(*args, **kwargs)
        self.ready = False
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def model(self) -> Any:
        """What ``build_model`` returned for this browser session (in ``render``)."""
        return getattr(self, "_model", None)

    @abc.abstractmethod
    def render(self) -> None:
        """Draw the UI with Streamlit calls."""

    def build_model(self) -> Any:
        """Build a model for ``render`` (once per browser session); None by default."""
        return None

    def run(self) -> None:
        """Serve the UI on the work's host and port until the work is stopped."""
        from lightning_ctl.sdk._app_server import app_process_environ

        env = {
            **app_process_environ(),
            WORK_NAME_VAR: self.name,
            WORK_CLASS_VAR: type(self).__qualname__,
            WORK_MODULE_FILE_VAR: os.path.abspath(_defining_file(type(self))),
        }
        self._process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", _MAIN, "--server.address", str(self.host),
             "--server.port", str(self.port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.enableXsrfProtection", "false", "--server.enableCORS", "false"],
            env=env, stdin=subprocess.DEVNULL,
        )
        self.ready = True
        self._process.wait()

    def on_exit(self) -> None:
        """Stop the Streamlit process with the work."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()

    def configure_layout(self) -> str:
        """Its UI: its url."""
        return self.url


def _defining_file(cls: type) -> str:
    """The file that defines ``cls``, from its own functions' code.

    An app's module may be registered under another name in this process, e.g. loaded as ``__main__`` by the
    agent's fork server.
    """
    for value in vars(cls).values():
        code = getattr(inspect.unwrap(getattr(value, "__func__", value)), "__code__", None)
        if code is not None:
            return str(code.co_filename)
    return inspect.getfile(cls)
