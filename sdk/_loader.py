"""Loading an app file: executing it as a fresh ``__main__`` module and finding its one LightningApp."""

from __future__ import annotations

import os
import sys
import traceback
import types
from pathlib import Path

from lightning_ctl.sdk._app import LightningApp
from lightning_ctl.sdk._compat import install as install_compat
from lightning_ctl.sdk._loader_args import app_argv
from lightning_ctl.sdk.errors import AppImportError

_SDK_DIR = str(Path(__file__).resolve().parent)


def user_traceback(exc: BaseException, skip_dirs: tuple[str, ...] = ()) -> str:
    """The traceback of ``exc`` pointing at the user's code: lightning-ctl's own frames are cut from both ends.

    Frames of the SDK and of ``skip_dirs`` before the first user frame (our loop calling the user) and after the
    last one (an SDK check raising on the user's behalf, such as a non-JSON attribute) are left out. An error with
    no user frame at all (a check of ours after the user's code returned) is shown as its message alone.
    """
    skip = (_SDK_DIR, *skip_dirs)
    summary = traceback.extract_tb(exc.__traceback__)
    ours = [frame.filename.startswith(skip) for frame in summary]
    if all(ours):
        summary = traceback.StackSummary.from_list([])
    else:
        first = ours.index(False)
        last = len(ours) - 1 - ours[::-1].index(False)
        summary = traceback.StackSummary.from_list(summary[first : last + 1])
    lines = ["Traceback (most recent call last):\n", *summary.format()] if summary else []
    return "".join(lines + list(traceback.format_exception_only(type(exc), exc)))


def load_app(path: str | os.PathLike[str]) -> tuple[LightningApp, types.ModuleType]:
    """Execute the app file at ``path`` and return its single top-level LightningApp and the module.

    The file runs as ``__main__`` with its folder first on ``sys.path``, as the reference does.

    Raises:
        AppImportError: the file is missing, fails to execute, or holds no LightningApp or more than one; the
            message names the file (and the line, for errors raised while executing it).
    """
    install_compat()  # apps written for lightning_app / lightning.app import the SDK unchanged
    file = Path(path).resolve()
    if not file.is_file():
        raise AppImportError(f"{path}: no such app file", path=str(path))
    source = file.read_bytes()
    module = types.ModuleType("__main__")
    module.__file__ = str(file)
    module.__dict__["__builtins__"] = __builtins__
    folder = str(file.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    previous_main = sys.modules.get("__main__")
    sys.modules["__main__"] = module
    previous_argv = sys.argv
    sys.argv = [str(path), *app_argv()]  # as `python app.py ARG...` would have it, in every process
    try:
        code = compile(source, str(file), "exec")
        exec(code, module.__dict__)
    except SyntaxError as exc:
        raise AppImportError(
            f"{file}:{exc.lineno}: syntax error: {exc.msg}\n{''.join(traceback.format_exception_only(exc))}",
            path=str(file),
            lineno=exc.lineno,
        ) from None
    except BaseException as exc:  # noqa: BLE001 - anything the user's module raises is reported, never ours
        lineno = _line_in_file(exc, str(file))
        where = f"{file}:{lineno}" if lineno else str(file)
        raise AppImportError(
            f"{where}: loading the app raised {type(exc).__name__}: {exc}\n{user_traceback(exc)}",
            path=str(file),
            lineno=lineno,
        ) from None
    finally:
        sys.argv = previous_argv
        if previous_main is not None and sys.modules.get("__main__") is module:
            sys.modules["__main__"] = previous_main
    apps = {id(v): v for v in module.__dict__.values() if isinstance(v, LightningApp)}
    if len(apps) != 1:
        found = "no LightningApp" if not apps else f"{len(apps)} LightningApp instances"
        raise AppImportError(
            f"{file}: an app file must define exactly one top-level LightningApp, found {found}", path=str(file)
        )
    return next(iter(apps.values())), module


def _line_in_file(exc: BaseException, filename: str) -> int | None:
    """The deepest line of ``filename`` in the traceback of ``exc``."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
