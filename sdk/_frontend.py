"""Frontends: a flow's UI, returned by its ``configure_layout()``.

The control plane serves every frontend behind its own address and authentication, at ``/ui/<flow name>/``:
a :class:`StaticWebFrontend`'s folder directly, and any other frontend by starting its server on a free loopback
port (``start_server``) and proxying to it. :class:`StreamlitFrontend` runs ``render_fn`` in a Streamlit process
that reads and writes the app's state through :class:`~lightning_ctl.sdk.AppState` (the ``streamlit`` extra).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import subprocess

_STREAMLIT_MAIN = str(Path(__file__).with_name("_streamlit_main.py"))
FLOW_NAME_VAR = "LIGHTNING_FLOW_NAME"
RENDER_FUNCTION_VAR = "LIGHTNING_RENDER_FUNCTION"
RENDER_MODULE_FILE_VAR = "LIGHTNING_RENDER_MODULE_FILE"


class Frontend:
    """A flow's UI. Subclasses start their own server in ``start_server`` and stop it in ``stop_server``.

    ``flow`` is set by the control plane before ``start_server`` is called.
    """

    def __init__(self) -> None:
        self.flow: Any = None

    def start_server(self, host: str, port: int, root_path: str = "") -> None:
        """Start serving the UI on ``host:port`` under the URL prefix ``root_path``."""
        raise NotImplementedError(f"{type(self).__name__} must implement start_server(host, port, root_path)")

    def stop_server(self) -> None:
        """Stop what ``start_server`` started."""


class StaticWebFrontend(Frontend):
    """Serve the files of a folder (it should hold an ``index.html``) as the flow's UI.

    Args:
        serve_dir: The folder, relative to the working directory or absolute.

    Raises:
        ValueError: ``serve_dir`` is not a folder.
    """

    def __init__(self, serve_dir: str) -> None:
        super().__init__()
        if not os.path.isdir(serve_dir):
            raise ValueError(f"StaticWebFrontend(serve_dir={serve_dir!r}): no such folder "
                             f"(relative to {os.getcwd()})")
        self.serve_dir = os.path.abspath(serve_dir)

    def start_server(self, host: str, port: int, root_path: str = "") -> None:
        """Nothing to start: the control plane serves the folder itself."""


class StreamlitFrontend(Frontend):
    """Run ``render_fn(state)`` as a Streamlit UI; ``state`` is the flow's :class:`AppState`.

    Args:
        render_fn: A module-level function taking the state (not a method: it runs in another process).

    Raises:
        ModuleNotFoundError: streamlit is not installed (install the ``streamlit`` extra).
        TypeError: ``render_fn`` is a method or not a function.
    """

    def __init__(self, render_fn: Callable[[Any], None]) -> None:
        import importlib.util
        import inspect  # here and below: importing the SDK stays light

        super().__init__()
        if importlib.util.find_spec("streamlit") is None:
            raise ModuleNotFoundError(
                "StreamlitFrontend needs streamlit: pip install 'lightning-ctl[streamlit]'", name="streamlit"
            )
        if inspect.ismethod(render_fn) or not inspect.isfunction(render_fn):
            raise TypeError(f"StreamlitFrontend(render_fn={render_fn!r}): pass a module-level function, not a method")
        self.render_fn = render_fn
        self._process: subprocess.Popen[bytes] | None = None

    def start_server(self, host: str, port: int, root_path: str = "") -> None:
        """Start ``streamlit run`` on ``host:port`` with ``root_path`` as its base URL path."""
        import subprocess

        from lightning_ctl.sdk._app_server import app_process_environ

        env = {
            **app_process_environ(),
            FLOW_NAME_VAR: self.flow.name,
            RENDER_FUNCTION_VAR: self.render_fn.__name__,
            # The file that defines it (its module may be an app loaded as __main__ and since unregistered).
            RENDER_MODULE_FILE_VAR: os.path.abspath(self.render_fn.__code__.co_filename),
        }
        self._process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", _STREAMLIT_MAIN,
             "--server.address", host, "--server.port", str(port), "--server.baseUrlPath", root_path.strip("/"),
             "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.enableXsrfProtection", "false", "--server.enableCORS", "false"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop_server(self) -> None:
        """Stop the Streamlit process (SIGTERM, then SIGKILL after 5 s)."""
        import subprocess

        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5.0)
