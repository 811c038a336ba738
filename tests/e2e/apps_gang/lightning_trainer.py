"""A 2-node LightningTrainerMultiNode: each node fits a tiny model with an unchanged PyTorch Lightning Trainer
(no num_nodes, no devices given), which DDP-trains across both nodes over gloo; each node reports what its
Trainer saw and its final weights (equal on both nodes only if their gradients were all-reduced)."""

from gang_common import report

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk.components import LightningTrainerMultiNode


class Fit(LightningWork):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = {}

    def run(self):
        import pytorch_lightning as pl
        import torch

        class Line(pl.LightningModule):
            def __init__(self):
                super().__init__()
                self.layer = torch.nn.Linear(1, 1)

            def training_step(self, batch, batch_idx):
                x, y = batch
                return torch.nn.functional.mse_loss(self.layer(x), y)

            def configure_optimizers(self):
                return torch.optim.SGD(self.parameters(), lr=0.1)

        torch.manual_seed(0)
        x = torch.randn(64, 1)
        data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, 3 * x + 1), batch_size=8)
        trainer = pl.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False)
        model = Line()
        trainer.fit(model, data)
        self.seen = {"world_size": trainer.world_size, "global_rank": trainer.global_rank,
                     "num_nodes": trainer.num_nodes, "strategy": type(trainer.strategy).__name__,
                     "weights": [round(float(p.sum()), 6) for p in model.parameters()]}


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.fit = LightningTrainerMultiNode(Fit, CloudCompute("cpu"), 2)

    def run(self):
        self.fit.run()
        if self.fit.has_failed:
            report("FIT_FAILED", self.fit.status.message)
            self.stop()
        if self.fit.has_succeeded:
            report("FIT", [node.seen for node in self.fit.ws])
            self.stop()


app = LightningApp(Root())
