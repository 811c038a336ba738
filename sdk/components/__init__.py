"""Ready-made components: training on many machines, and works that run a user's script.

MultiNode and its PyTorch variants; TracerPythonScript, PopenPythonScript, LightningTrainerScript.

Importing this package imports no torch: the nodes import it where they run.
"""

from lightning_ctl.sdk.components._multi_node import MultiNode
from lightning_ctl.sdk.components._python_script import Code, PopenPythonScript, TracerPythonScript
from lightning_ctl.sdk.components._torch_multi_node import (
    FabricMultiNode,
    LightningTrainerMultiNode,
    PyTorchSpawnMultiNode,
)
from lightning_ctl.sdk.components._tracer import Tracer
from lightning_ctl.sdk.components._trainer_script import LightningTrainerScript, PyTorchLightningScriptRunner

__all__ = [
    "Code",
    "FabricMultiNode",
    "LightningTrainerMultiNode",
    "LightningTrainerScript",
    "MultiNode",
    "PopenPythonScript",
    "PyTorchLightningScriptRunner",
    "PyTorchSpawnMultiNode",
    "Tracer",
    "TracerPythonScript",
]
