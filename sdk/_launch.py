"""Starting our own Python entry points in a new interpreter, immune to the user's files.

``python -m pkg`` puts the current folder first on ``sys.path``, so a user's ``lightning_ctl.py`` beside an app
would shadow our package in the local agent, the fork server and every work process. The command made here drops
that entry before importing anything of ours, and still names the module in ``ps``.
"""

from __future__ import annotations

import sys

_BOOTSTRAP = "import sys, runpy; del sys.path[0]; runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"


def module_command(module: str, *args: str) -> list[str]:
    """The argv that runs ``module`` as ``__main__`` with ``args``, in this interpreter, not importing from cwd."""
    return [sys.executable, "-c", _BOOTSTRAP.format(module=module), *args]
