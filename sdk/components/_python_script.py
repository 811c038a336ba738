"""Works that run a user's Python script, in the work's own interpreter or as a child process.

TracerPythonScript runs it in the work's interpreter, PopenPythonScript as a child process. Either one's output is the work's output (streamed to the console and to
``lightning-ctl logs`` line by line); a script that exits with a non-zero status fails the call saying so.

As nodes of a :class:`MultiNode`, they run the script on every machine of the gang: the node's environment
(``MASTER_ADDR``, ``NODE_RANK``, ``WORLD_SIZE``...) is the script's.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tarfile
from pathlib import Path as LocalPath
from typing import Any, TypedDict

from lightning_ctl.sdk._drive import Drive
from lightning_ctl.sdk._payload import Payload
from lightning_ctl.sdk._work import LightningWork
from lightning_ctl.sdk.components._tracer import Tracer
from lightning_ctl.sdk.errors import LightningWorkException

STOP_GRACE_S = 5.0
"""How long a PopenPythonScript's child process has to exit after SIGTERM when the work stops."""


class Code(TypedDict):
    """Where a TracerPythonScript finds its code: a ``.tar.gz`` named ``name`` in ``drive``."""

    drive: Drive
    name: str


def _script_args(script_args: str | list[str] | None) -> list[str]:
    if script_args is None:
        return []
    if isinstance(script_args, str):
        return shlex.split(script_args)
    return [str(arg) for arg in script_args]


def _existing_script(work: LightningWork, script_path: str) -> str:
    if not os.path.isfile(script_path):
        raise FileNotFoundError(f"{work.name or type(work).__name__}: the script {script_path!r} was not found "
                                f"(looked from {os.getcwd()})")
    return script_path


class _ScriptExit(LightningWorkException):
    """The script exited with a non-zero status."""


class TracerPythonScript(LightningWork):
    """Run a Python script as ``__main__`` inside the work's process, optionally wrapping classes it uses.

    Override :meth:`configure_tracer` to wrap methods while the script runs (e.g. a ``Trainer.__init__``), and
    :meth:`on_after_run` to read the script's globals once it ended.

    Args:
        script_path: the script, relative to the work's folder (the app's folder).
        script_args: its command-line arguments (a list, or a string split as a shell would).
        outputs: names of the script's globals to keep as the work's attributes once it ended (as Payloads).
        env: environment variables for the script (set while it runs).
        code: a ``.tar.gz`` of the code in a Drive, unpacked into ``code_dir`` before each run.
        kwargs: LightningWork's arguments (``parallel``, ``cloud_compute``...).
    """

    def __init__(self, script_path: str, script_args: str | list[str] | None = None, outputs: list[str] | None = None,
                 env: dict[str, str] | None = None, code: Code | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script_path = str(script_path)
        self.script_args = _script_args(script_args)
        self.original_args = list(self.script_args)
        self.env = dict(env) if env else None
        self.outputs = list(outputs or [])
        for name in self.outputs:
            setattr(self, name, None)
        self.params: dict[str, Any] | None = None
        self.drive = code["drive"] if code else None
        self.code_name = code["name"] if code else None
        self.restart_count = 0

    def configure_tracer(self) -> Tracer:
        """The tracer the script runs under; override to wrap methods of the classes it uses."""
        return Tracer()

    def on_before_run(self) -> None:
        """Runs before the script."""

    def on_after_run(self, res: dict[str, Any]) -> None:
        """Runs after the script with its globals; keeps the ``outputs`` as attributes."""
        for name in self.outputs:
            setattr(self, name, Payload(res.get(name)))

    def run(self, params: dict[str, Any] | None = None, restart_count: int | None = None, code_dir: str = ".",
            **kwargs: Any) -> None:
        """Run the script.

        Args:
            params: ``{name: value}`` added to the script's arguments as ``name=value``.
            restart_count: a number to make a new call of the same script (recorded as ``restart_count``).
            code_dir: where ``code`` is unpacked and the script is looked for.
            kwargs: globals the script starts with (a MultiNode node's ``main_address``, ``node_rank``...).
        """
        if restart_count:
            self.restart_count = restart_count
        if params:
            self.params = params
            self.script_args = self.original_args + [f"{k}={v}" for k, v in params.items()]
        if self.drive is not None and self.code_name:
            self._unpack_code(code_dir)
        previous_cwd, previous_env = os.getcwd(), dict(os.environ)
        os.chdir(code_dir)
        try:
            script = _existing_script(self, self.script_path)
            init_globals = {k: v.value if isinstance(v, Payload) else v for k, v in kwargs.items()}
            self.on_before_run()
            os.environ.update(self.env or {})
            try:
                res = self.configure_tracer().trace(script, *self.script_args, init_globals=init_globals)
            except SystemExit as exc:
                if exc.code not in (None, 0):
                    raise _ScriptExit(f"{self.name}: the script {self.script_path} exited with status "
                                      f"{exc.code}") from None
                res = {}
        finally:
            os.chdir(previous_cwd)
            os.environ.clear()
            os.environ.update(previous_env)
        self.on_after_run(res)

    def _unpack_code(self, code_dir: str) -> None:
        assert self.drive is not None and self.code_name is not None
        self.drive.get(self.code_name, overwrite=True)
        local = os.path.join(self.drive.root_folder, self.code_name)
        with tarfile.open(local, "r:gz") as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(code_dir, filter="data")  # no path outside code_dir, no devices or links out
            else:  # Python before 3.10.12: refuse members that would land outside code_dir
                root = os.path.realpath(code_dir)
                for member in archive.getmembers():
                    target = os.path.realpath(os.path.join(root, member.name))
                    if os.path.commonpath([root, target]) != root or member.issym() or member.islnk():
                        raise LightningWorkException(f"{self.name}: {self.code_name} holds {member.name!r}, which "
                                                     f"would land outside {code_dir}")
                archive.extractall(code_dir)

    def on_exit(self) -> None:
        """Ends the processes the script started."""
        _terminate_children()


class PopenPythonScript(LightningWork):
    """Run a Python script as a child process of the work, with the work's interpreter.

    Its output goes straight to the work's output; ``pid`` and ``exit_code`` are the work's attributes; a non-zero
    exit fails the call. Stopping the work stops the script (SIGTERM, then SIGKILL after a few seconds).

    Args:
        script_path: the script, relative to the work's folder (the app's folder).
        script_args: its command-line arguments (a list, or a string split as a shell would).
        env: environment variables added to the work's for the script.
        kwargs: LightningWork's arguments (``parallel``, ``cloud_compute``...).
    """

    def __init__(self, script_path: str | LocalPath, script_args: str | list[str] | None = None,
                 env: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.script_path = str(script_path)
        self.script_args = _script_args(script_args)
        self.env = dict(env) if env else None
        self.pid: int | None = None
        self.exit_code: int | None = None

    def on_before_run(self) -> None:
        """Runs before the script starts."""

    def on_after_run(self) -> None:
        """Runs after the script exited with status 0."""

    def run(self, **rendezvous: Any) -> None:
        """Run the script to its end.

        Args:
            rendezvous: a MultiNode node's ``main_address``, ``node_rank``...: the script gets them through its
                environment (``MASTER_ADDR``, ``NODE_RANK``...), as every process of the node does.
        """
        script = _existing_script(self, self.script_path)
        self.on_before_run()
        env = {**os.environ, **(self.env or {})}
        # The child writes to the work's own stdout and stderr, which the agent captures line by line.
        sys.stdout.flush()
        sys.stderr.flush()
        with subprocess.Popen([sys.executable, script, *self.script_args], env=env, stdin=subprocess.DEVNULL,
                              close_fds=True) as process:
            self.pid = process.pid
            self.exit_code = process.wait()
        if self.exit_code != 0:
            raise _ScriptExit(f"{self.name}: the script {self.script_path} exited with status {self.exit_code}")
        self.on_after_run()

    def on_exit(self) -> None:
        """Stops the script."""
        _terminate_children()


def _terminate_children() -> None:
    """SIGTERM the processes this one started, SIGKILL those still there after ``STOP_GRACE_S``."""
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        try:
            child.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(children, timeout=STOP_GRACE_S)
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
