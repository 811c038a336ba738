"""Ready-made components: training on many machines, works that run a user's script, and works that serve.

    MultiNode, LightningTrainerMultiNode, PyTorchSpawnMultiNode, FabricMultiNode   one work on N machines
    TracerPythonScript, PopenPythonScript, LightningTrainerScript                  a user's script as a work
    PythonServer   a FastAPI prediction server: ``setup`` once, ``predict`` per request (the ``serve`` extra)
    Image, Number, Text, Category   its input and output types (pydantic models)
    ServeGradio    a Gradio UI around ``predict`` (the ``gradio`` extra)
    ServeStreamlit a Streamlit UI drawn by ``render`` (the ``streamlit`` extra)

Works that serve are reachable at their ``url`` and through the control plane at ``/works/<name>/``. Importing
this package loads none of the optional libraries (torch, fastapi, gradio, streamlit): the nodes and servers import
them where they run, and a component used without its library fails when the app is built, naming the extra to
install.
"""

from __future__ import annotations

import importlib
from typing import Any

from lightning_ctl.sdk.components._multi_node import MultiNode
from lightning_ctl.sdk.components._python_script import Code, PopenPythonScript, TracerPythonScript
from lightning_ctl.sdk.components._python_server import PythonServer
from lightning_ctl.sdk.components._serve_gradio import ServeGradio
from lightning_ctl.sdk.components._serve_streamlit import ServeStreamlit
from lightning_ctl.sdk.components._torch_multi_node import (
    FabricMultiNode,
    LightningTrainerMultiNode,
    PyTorchSpawnMultiNode,
)
from lightning_ctl.sdk.components._tracer import Tracer
from lightning_ctl.sdk.components._trainer_script import LightningTrainerScript, PyTorchLightningScriptRunner

_TYPES = ("Category", "Image", "Number", "Text")
"""Pydantic models, built when first asked for (pydantic is the ``serve`` extra's)."""

__all__ = [
    "Code",
    "FabricMultiNode",
    "LightningTrainerMultiNode",
    "LightningTrainerScript",
    "MultiNode",
    "PopenPythonScript",
    "PyTorchLightningScriptRunner",
    "PyTorchSpawnMultiNode",
    "PythonServer",
    "ServeGradio",
    "ServeStreamlit",
    "Tracer",
    "TracerPythonScript",
    *_TYPES,
]


def __getattr__(name: str) -> Any:
    if name in _TYPES:
        return getattr(importlib.import_module("lightning_ctl.sdk.components._serve_types"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
