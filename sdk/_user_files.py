"""Importing a user's file by path, once per process (a Streamlit process rendering a flow's or a work's UI)."""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

from lightning_ctl.sdk import _compat


def import_user_file(path: str, prefix: str) -> Any:
    """The module of the user's file ``path``, imported once per process under ``<prefix><file stem>``.

    The former framework's names are served and the file's folder is on ``sys.path`` (the app's own module was
    loaded as ``__main__`` in another process).
    """
    name = prefix + os.path.splitext(os.path.basename(path))[0]
    module = sys.modules.get(name)
    if module is None:
        _compat.install()
        sys.path.insert(0, os.path.dirname(path))
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module
