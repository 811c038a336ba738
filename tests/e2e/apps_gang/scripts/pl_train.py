"""An unchanged PyTorch Lightning training script (no num_nodes, no devices): run by LightningTrainerScript."""

import pytorch_lightning as pl
import torch


class Line(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("loss", loss, sync_dist=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


torch.manual_seed(0)
x = torch.randn(64, 1)
data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, 3 * x + 1), batch_size=8)
trainer = pl.Trainer(max_epochs=2, logger=False, enable_progress_bar=False, enable_model_summary=False,
                     default_root_dir="pl_out")
trainer.fit(Line(), data)
print("TRAINED", trainer.num_nodes, trainer.world_size, trainer.global_rank, flush=True)
