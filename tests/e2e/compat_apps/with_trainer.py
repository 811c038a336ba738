"""An app that also trains with PyTorch Lightning: ``L.Trainer`` and ``L.LightningWork`` from one import.

It needs a real ``lightning`` package installed next to lightning-ctl: the app classes come from
lightning-ctl, everything else from PyTorch Lightning.

    lightning-ctl run with_trainer.py
"""

import lightning as L
from lightning.pytorch import seed_everything


class FitModel(L.LightningWork):
    def __init__(self):
        super().__init__(cloud_compute=L.CloudCompute("cpu"))
        self.summary = ""

    def run(self, max_epochs: int):
        seed = seed_everything(7)
        trainer = L.Trainer(max_epochs=max_epochs)
        self.summary = f"{trainer.fit()} (seed {seed})"
        print(f"lightning {L.__version__}: {self.summary}")


class Root(L.LightningFlow):
    def __init__(self):
        super().__init__()
        self.fit = FitModel()

    def run(self):
        self.fit.run(max_epochs=2)
        self.stop(f"flow sees {self.fit.summary!r}, Trainer from {L.Trainer.__module__} {L.__version__}")


app = L.LightningApp(Root())
