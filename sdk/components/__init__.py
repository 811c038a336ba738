"""Ready-made works that serve, each reachable at its ``url`` and through the control plane at ``/works/<name>/``.

    PythonServer   a FastAPI prediction server: ``setup`` once, ``predict`` per request (the ``serve`` extra)
    Image, Number, Text, Category   its input and output types (pydantic models)
    ServeGradio    a Gradio UI around ``predict`` (the ``gradio`` extra)
    ServeStreamlit a Streamlit UI drawn by ``render`` (the ``streamlit`` extra)

Importing this package loads none of those libraries; a component used without its library fails when the app
is built, naming the extra to install.
"""

from __future__ import annotations

import importlib
from typing import Any

from lightning_ctl.sdk.components._python_server import PythonServer
from lightning_ctl.sdk.components._serve_gradio import ServeGradio
from lightning_ctl.sdk.components._serve_streamlit import ServeStreamlit

_TYPES = ("Category", "Image", "Number", "Text")
"""Pydantic models, built when first asked for (pydantic is the ``serve`` extra's)."""

__all__ = ["PythonServer", "ServeGradio", "ServeStreamlit", *_TYPES]


def __getattr__(name: str) -> Any:
    if name in _TYPES:
        return getattr(importlib.import_module("lightning_ctl.sdk.components._serve_types"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
