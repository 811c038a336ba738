"""The former framework's runtimes (``lightning.app.runners``), for app files started with ``python app.py``.

``MultiProcessRuntime(app).dispatch()``, at the end of such a file, replaces the Python process with
``lightning-ctl run APP_FILE -- ARG...`` (the file it is written in, with the script's own arguments), so
``python app.py`` runs the app through the control plane and agents exactly as ``lightning-ctl run app.py`` does.
When lightning-ctl itself executes the file (the control plane loading the app, a fork server or a work process
importing it), ``dispatch()`` does nothing: the app is already being run.

``CloudRuntime`` ran apps on the lightning.ai cloud; it raises :class:`NotSupportedError` saying what to run instead.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from lightning_ctl.sdk._launch import module_command
from lightning_ctl.sdk._loader_args import is_loading_app
from lightning_ctl.sdk.errors import NotSupportedError

__all__ = ["CloudRuntime", "MultiProcessRuntime", "Runtime"]

_CLI_MODULE = "lightning_ctl.controlplane"
"""``python -m`` this module is the ``lightning-ctl`` command (started by name only: the SDK never imports it)."""


class Runtime:
    """What the former framework's runtimes share: an app, and how it is served.

    What they are given is kept, and mapped onto ``lightning-ctl run``'s options by
    :meth:`MultiProcessRuntime.dispatch`.

    Args:
        app: The app (built by the app file that calls ``dispatch()``).
        entrypoint: Kept for compatibility: the app file is the one ``dispatch()`` is called from.
        start_server: False serves no view and no REST API (``--no-http``).
        host: Where the control plane and its HTTP server listen (``--host``; loopback by default).
        port: The HTTP port (``--http-port``; 7501 or the next free one by default).
        env_vars: Environment variables for the flows and every work (``--env``).
        secrets: Treated like ``env_vars`` (they were environment variables in the cloud too).
        **kwargs: Other settings of the former framework's runtimes, which lightning-ctl has no use for.
    """

    def __init__(self, app: Any = None, entrypoint: Any = None, start_server: bool = True, host: str | None = None,
                 port: int | None = None, env_vars: dict[str, str] | None = None,
                 secrets: dict[str, str] | None = None, **kwargs: Any) -> None:
        self.app = app
        self.entrypoint = entrypoint
        self.start_server = start_server
        self.host = host
        self.port = port
        self.env_vars = dict(env_vars or {})
        self.secrets = dict(secrets or {})

    def dispatch(self, *args: Any, **kwargs: Any) -> None:
        """Run the app (see the subclasses)."""
        raise NotImplementedError


class MultiProcessRuntime(Runtime):
    """Runs the app on this machine: ``python app.py`` becomes ``lightning-ctl run app.py`` (see the module)."""

    def dispatch(self, *args: Any, open_ui: bool = True, **kwargs: Any) -> None:
        """Run the app file this is called from with ``lightning-ctl run`` (this process becomes that command).

        Does nothing when lightning-ctl is loading the file itself (the app is already running).

        Raises:
            NotSupportedError: it is not called from an app file run as a script (e.g. in a REPL).
        """
        if is_loading_app():
            return
        app_file = getattr(sys.modules.get("__main__"), "__file__", None)
        if not app_file or not os.path.isfile(app_file):
            raise NotSupportedError(
                "MultiProcessRuntime(app).dispatch() runs the app file it is written in with `lightning-ctl run`: "
                "call it at the end of an app file started with `python app.py`, or run `lightning-ctl run app.py`"
            )
        command = module_command(_CLI_MODULE, "run", os.path.abspath(app_file), *self._options(), "--", *sys.argv[1:])
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(command[0], command)

    def _options(self) -> list[str]:
        options = [] if self.start_server else ["--no-http"]
        if self.host:
            options += ["--host", self.host]
        if self.port is not None and self.start_server:
            options += ["--http-port", str(self.port)]
        for name, value in {**self.env_vars, **self.secrets}.items():
            options += ["--env", f"{name}={value}"]
        return options


class CloudRuntime(Runtime):
    """The former framework's runtime for the lightning.ai cloud, which lightning-ctl does not reach.

    Raises:
        NotSupportedError: always, saying how to run the app on your own machines instead.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotSupportedError(
            "CloudRuntime ran apps on the lightning.ai cloud, which lightning-ctl does not use. Run the app on your "
            "own machines: `lightning-ctl run app.py` (or MultiProcessRuntime(app).dispatch()), with GPU machines "
            "joining through `lightning-agent --control-plane HOST:PORT`, or agents started on demand by Slurm "
            "(`--provider slurm`) or Kubernetes (`--provider kubernetes`)"
        )

