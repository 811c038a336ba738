"""LightningTrainerScript: an unchanged PyTorch Lightning training script, trained on N machines as one gang.

Each node runs the script with :class:`PyTorchLightningScriptRunner` (a TracerPythonScript): the node's
environment gives the script's ``Trainer`` the gang (``MASTER_ADDR``, ``NODE_RANK``, ``PL_TRAINER_NUM_NODES``...),
and once the script ended the runner keeps the Trainer's best checkpoint and score. PyTorch Lightning is needed
where the nodes run (``lightning`` or ``pytorch_lightning``), never in the control plane.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from lightning_ctl.sdk._cloud_compute import CloudCompute
from lightning_ctl.sdk._path import Path
from lightning_ctl.sdk.components._multi_node import MultiNode
from lightning_ctl.sdk.components._python_script import TracerPythonScript
from lightning_ctl.sdk.components._tracer import Tracer

_PACKAGES = ("lightning.pytorch", "pytorch_lightning")


def _lightning() -> Any:
    """``lightning.pytorch`` or ``pytorch_lightning``, whichever is installed.

    Raises:
        ImportError: neither is (naming what to install).
    """
    for name in _PACKAGES:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("LightningTrainerScript needs PyTorch Lightning where its nodes run: pip install lightning")


class PyTorchLightningScriptRunner(TracerPythonScript):
    """One node of a LightningTrainerScript: runs the script, then records the Trainer's best checkpoint.

    Args:
        script_path: the training script.
        script_args: its arguments.
        node_rank: this node's rank (a MultiNode's call gives it again).
        num_nodes: how many nodes (a MultiNode's call gives it again).
        sanity_serving: add Lightning's ``ServableModuleValidator`` to the Trainer of node 0.
        cloud_compute: what the node needs.
        parallel: whether a call returns at once.
        raise_exception: whether a failure fails the app.
        env: environment variables for the script.
        kwargs: LightningWork's other arguments.
    """

    def __init__(self, script_path: str, script_args: str | list[str] | None = None, node_rank: int = 0,
                 num_nodes: int = 1, sanity_serving: bool = False, cloud_compute: CloudCompute | None = None,
                 parallel: bool = True, raise_exception: bool = True, env: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(script_path, script_args, env=env, raise_exception=raise_exception, parallel=parallel,
                         cloud_compute=cloud_compute, **kwargs)
        self.node_rank = node_rank
        self.num_nodes = num_nodes
        self.best_model_path: Path | None = None
        self.best_model_score: float | None = None
        self.monitor = None
        self.sanity_serving = sanity_serving
        self.has_finished = False

    def configure_tracer(self) -> Tracer:
        """Wraps ``Trainer.__init__`` (to add the serving check on node 0)."""
        tracer = super().configure_tracer()
        tracer.add_traced(_lightning().Trainer, "__init__", pre_fn=self._trainer_init_pre_middleware)
        return tracer

    def run(  # type: ignore[override] # a node's call: the rendezvous first, TracerPythonScript's arguments after
        self, main_address: str | None = None, main_port: int | None = None, num_nodes: int | None = None,
        node_rank: int | None = None, **kwargs: Any,
    ) -> None:
        """Run the script as node ``node_rank`` of ``num_nodes`` (the environment carries the rendezvous)."""
        if num_nodes is not None and node_rank is not None:
            self.num_nodes, self.node_rank = num_nodes, node_rank
        os.environ.update({"PL_TRAINER_NUM_NODES": str(self.num_nodes), "PL_TRAINER_DEVICES": "auto",
                           "PL_TRAINER_ACCELERATOR": "auto", "NODE_RANK": str(self.node_rank)})
        super().run(**kwargs)

    def on_after_run(self, res: dict[str, Any]) -> None:
        """Keep the best checkpoint (a Path other works can fetch), its score and the monitored metric."""
        lightning = _lightning()
        trainer = None
        for value in res.values():
            if isinstance(value, lightning.Trainer):
                trainer = value
                break
            cli_trainer = getattr(value, "trainer", None)
            if isinstance(cli_trainer, lightning.Trainer):  # a LightningCLI
                trainer = cli_trainer
                break
        if trainer is None:
            raise RuntimeError(f"{self.name}: the script {self.script_path} made no Trainer")
        checkpoint = trainer.checkpoint_callback
        if checkpoint is not None:
            self.monitor = checkpoint.monitor
            saved = checkpoint.best_model_path or checkpoint.last_model_path  # without a monitor: the latest one
            if saved:
                self.best_model_path = Path(saved)
            if checkpoint.best_model_score is not None:
                self.best_model_score = float(checkpoint.best_model_score)
        self.has_finished = True

    def _trainer_init_pre_middleware(self, trainer: Any, *args: Any, **kwargs: Any) -> tuple[Any, tuple, dict]:
        if self.node_rank != 0 or not self.sanity_serving:
            return {}, args, kwargs
        validator = importlib.import_module(f"{type(trainer).__module__.split('.trainer')[0]}.serve")
        kwargs["callbacks"] = [*kwargs.get("callbacks", []), validator.ServableModuleValidator()]
        return {}, args, kwargs


class LightningTrainerScript(MultiNode):
    """Train with an unchanged PyTorch Lightning script on ``num_nodes`` machines (a MultiNode of script runners).

    Args:
        script_path: the training script.
        script_args: its arguments.
        num_nodes: how many nodes.
        cloud_compute: what each node needs.
        sanity_serving: check on node 0 that the model can be served.
        script_runner: the node's work class.
        script_runner_kwargs: more arguments for it.
    """

    def __init__(self, script_path: str, script_args: str | list[str] | None = None, num_nodes: int = 1,
                 cloud_compute: CloudCompute | None = None, sanity_serving: bool = False,
                 script_runner: type[TracerPythonScript] = PyTorchLightningScriptRunner,
                 **script_runner_kwargs: Any) -> None:
        super().__init__(script_runner, num_nodes, cloud_compute or CloudCompute("default"), script_path,
                         script_args, sanity_serving=sanity_serving, **script_runner_kwargs)
        self.script_path = script_path
        self.script_args = script_args
        self.sanity_serving = sanity_serving

    @property
    def best_model_score(self) -> float | None:
        """Node 0's best score."""
        return self.ws[0].best_model_score

    @property
    def best_model_paths(self) -> list[Path | None]:
        """Each node's best checkpoint."""
        return [node.best_model_path for node in self.ws]
