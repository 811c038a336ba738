"""``lightning-ctl debug [SOCKET]``: attach this terminal to a work paused in ``lightning.app.pdb.set_trace()``.

A paused work serves pdb on a Unix socket in a private folder of its machine's temporary directory
(``lightning-pdb-*/<work>.<pid>.sock``, owner-only) and prints the command to run; this command relays the terminal to
it until the work goes on (``c``), quits (``q``) or this command ends (Ctrl-D: the work goes on).
"""

from __future__ import annotations

import os
import selectors
import socket
import sys

import click

from lightning_ctl.controlplane.cli.config import CliError
from lightning_ctl.sdk._exit_codes import ExitCode

_CHUNK_BYTES = 65536


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("socket_path", metavar="[SOCKET]", required=False, type=click.Path(dir_okay=False))
def debug(socket_path: str | None) -> None:
    """Attach this terminal to a work paused in a debugger (lightning.app.pdb.set_trace()).

    A work that calls set_trace() (or the built-in breakpoint()) waits on a Unix socket and
    prints `lightning-ctl debug SOCKET` on its output; run that on the machine of the work's agent. Without SOCKET,
    attaches to the one debugger waiting on this machine (and lists them when several are). `c` lets the work go
    on, `q` ends its call with BdbQuit, Ctrl-D detaches and lets it go on.

    Exit codes: 0 the session ended; 1 no debugger is waiting there (or several are); 2 usage error.
    """
    if socket_path is None:
        from lightning_ctl.sdk._pdb import waiting_debuggers  # pdb is slow to import: not for every command

        waiting = waiting_debuggers()
        if not waiting:
            raise CliError("no work is paused in a debugger on this machine")
        if len(waiting) > 1:
            raise CliError("several works are paused in a debugger; attach to one with lightning-ctl debug SOCKET:\n  "
                           + "\n  ".join(waiting))
        socket_path = waiting[0]
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(socket_path)
    except OSError as exc:
        raise CliError(f"cannot attach to {socket_path}: {exc.strerror or exc} (the work may have gone on)",
                       ExitCode.FAILED) from None
    with connection:
        _relay(connection)


def _relay(connection: socket.socket) -> None:
    """Copy the terminal to the debugger and the debugger to the terminal until the debugger hangs up."""
    stdin_fd, stdout = sys.stdin.fileno(), sys.stdout.buffer
    selector = selectors.DefaultSelector()
    selector.register(connection, selectors.EVENT_READ)
    selector.register(stdin_fd, selectors.EVENT_READ)
    try:
        while True:
            for key, _ in selector.select():
                if key.fileobj is connection:
                    data = connection.recv(_CHUNK_BYTES)
                    if not data:
                        return
                    stdout.write(data)
                    stdout.flush()
                    continue
                data = os.read(stdin_fd, _CHUNK_BYTES)
                if not data:  # Ctrl-D: pdb gets end-of-file and lets the work go on
                    selector.unregister(stdin_fd)
                    connection.shutdown(socket.SHUT_WR)
                    continue
                connection.sendall(data)
    except (ConnectionError, BrokenPipeError):
        return
    finally:
        selector.close()
