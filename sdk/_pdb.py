"""``lightning.app.pdb.set_trace()``: a breakpoint in a work's process, which has no terminal of its own.

A work runs as a process started by its agent, in a session of its own, its stdin ``/dev/null`` and its output
streamed to the console: a plain ``pdb`` there would read end-of-file and carry on. So, where stdin is not a
terminal, :func:`set_trace` pauses the work and serves the debugger on a Unix socket (owner-only, in a private
folder of the machine's temporary directory), printing on the work's output, which reaches the console as
``root.work | ...``, the command that attaches to it::

    lightning-ctl debug /tmp/lightning-pdb-k2j4/root.work.4242.sock

That command (run on the machine of the work's agent) gives the pdb prompt in your terminal; ``c`` lets the work go
on, ``q`` ends its call with ``BdbQuit``, and leaving the command (Ctrl-D, or a lost connection) lets the work go
on. Why not the terminal of ``lightning-ctl run``: the work may run on another machine, several works may stop at
once, and that terminal shows every work's output; a socket per paused work, attached to on purpose, keeps each
session whole. Where stdin is a terminal (a flow run by ``lightning-ctl run`` in a terminal, or a script running
works inline), it is plain ``pdb`` there.
"""

from __future__ import annotations

import glob
import os
import pdb
import shutil
import socket
import sys
import tempfile
import types
from typing import IO, Any

__all__ = ["MPPdb", "debugger_root", "set_trace", "waiting_debuggers"]

_SOCKET_PATH_LIMIT = 100
"""Bytes a Unix socket's path may take (104 on macOS, 108 on Linux, less a margin)."""


class MPPdb(pdb.Pdb):
    """A Pdb for a process without a terminal: it talks over one connection (the former framework's name).

    Args:
        connection: The attached debugger's (reader, writer): two streams, as a text stream that both reads and
            writes drops what it read ahead when it writes (None: stdin and stdout, as plain pdb).
        on_done: Called once the session is over (continued without breakpoints, quit, or detached).
    """

    def __init__(self, connection: tuple[IO[str], IO[str]] | None = None, on_done: Any = None) -> None:
        if connection is None:
            super().__init__(nosigint=True)
        else:
            super().__init__(stdin=connection[0], stdout=connection[1], nosigint=True)
            self.use_rawinput = False
        self.prompt = "(Pdb) "
        self._on_done = on_done

    def set_continue(self) -> None:
        super().set_continue()
        if not self.breaks:
            self._finish()

    def set_quit(self) -> None:
        self._finish()
        super().set_quit()

    def do_EOF(self, arg: str) -> bool:
        """The debugger left (Ctrl-D, or its connection was lost): the work goes on."""
        self.message("")
        return bool(self.do_continue(arg))

    def _finish(self) -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is not None:
            on_done()


def set_trace(frame: types.FrameType | None = None) -> None:
    """Stop here in a debugger.

    pdb on the terminal, or, in a work's process, pdb served on a Unix socket that ``lightning-ctl debug`` attaches to
    (see the module).
    """
    if frame is None:
        frame = sys._getframe(1)  # the caller's
    if _has_terminal():
        MPPdb().set_trace(frame)
        return
    _serve(frame, _work_name(frame))


def _has_terminal() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False


def _work_name(frame: types.FrameType | None) -> str:
    """The full name of the component whose method is on the stack (the work paused), or "" if none is."""
    while frame is not None:
        name = getattr(frame.f_locals.get("self"), "name", None)
        if isinstance(name, str) and name.startswith("root"):
            return name
        frame = frame.f_back
    return ""


_FOLDER_PREFIX = "lightning-pdb-"
_ROOM_FOR_NAMES = 40
"""Bytes a socket's path keeps for its folder's random part and the work's name, at least."""


def debugger_root() -> str:
    """Where paused works' sockets are (each in a private ``lightning-pdb-*`` folder).

    The temporary directory, or ``/tmp`` when its path leaves too little room in a socket's path.
    """
    root = tempfile.gettempdir()
    return root if len(root.encode()) + _ROOM_FOR_NAMES <= _SOCKET_PATH_LIMIT - len(_FOLDER_PREFIX) else "/tmp"


def waiting_debuggers() -> list[str]:
    """The sockets of the works paused in a debugger on this machine for this user, oldest first.

    The folders of paused processes that are gone (a work stopped while paused exits without cleaning up) are removed.
    """
    waiting = []
    for folder in glob.glob(os.path.join(debugger_root(), _FOLDER_PREFIX + "*")):
        sockets = [path for path in glob.glob(os.path.join(folder, "*.sock")) if _is_own(path)]
        alive = [path for path in sockets if _pid_is_alive(path)]
        if sockets and not alive:
            shutil.rmtree(folder, ignore_errors=True)
        waiting.extend(alive)
    return sorted(waiting, key=os.path.getmtime)


def _is_own(path: str) -> bool:
    try:
        return os.stat(path).st_uid == os.getuid()
    except OSError:
        return False


def _pid_is_alive(path: str) -> bool:
    """Whether the process named in a socket's file name (``<name>.<pid>.sock``) still runs."""
    try:
        os.kill(int(os.path.basename(path).rsplit(".", 2)[-2]), 0)
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _socket_path(name: str) -> tuple[str, str]:
    """A private folder and ``<name>.<pid>.sock`` in it, the name cut to fit a socket's path.

    The folder is 0700: only this user reaches the socket.
    """
    waiting_debuggers()  # clears what works stopped while paused left behind
    suffix = f".{os.getpid()}.sock"
    folder = tempfile.mkdtemp(prefix=_FOLDER_PREFIX, dir=debugger_root())
    room = max(_SOCKET_PATH_LIMIT - len(folder.encode()) - len(suffix) - 1, 1)
    return folder, os.path.join(folder, name[:room] + suffix)


def _serve(frame: types.FrameType, work_name: str) -> None:
    folder, path = _socket_path(work_name or "pdb")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(1)
    where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
    print(f"[lightning-ctl] {work_name or 'this process'} is paused in a debugger at {where}; attach to it on "
          f"{socket.gethostname()} with: lightning-ctl debug {path}", file=sys.stderr, flush=True)
    connection, _ = listener.accept()
    reader = connection.makefile("r", encoding="utf-8", errors="replace", newline="\n")
    writer = connection.makefile("w", buffering=1, encoding="utf-8", errors="replace", newline="\n")

    def done() -> None:
        for closing in (reader, writer, connection, listener):
            try:
                closing.close()
            except OSError:
                pass
        shutil.rmtree(folder, ignore_errors=True)

    MPPdb((reader, writer), on_done=done).set_trace(frame)
