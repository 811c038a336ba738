"""Train, then serve: ``import lightning as L`` with two parallel works that talk through an attribute.

The training work publishes ``model_path`` when it is done; the flow hands it to the serving work, which keeps
serving until the app ends.

    lightning-ctl run train_serve.py
"""

import time

import lightning as L


class TrainModel(L.LightningWork):
    def __init__(self):
        super().__init__(parallel=True, cloud_compute=L.CloudCompute("cpu"))
        self.epochs_done = 0
        self.model_path = ""

    def run(self, epochs: int):
        for epoch in range(1, epochs + 1):
            time.sleep(0.02)  # one "epoch" of training
            self.epochs_done = epoch
            print(f"epoch {epoch}/{epochs}")
        self.model_path = f"checkpoints/model-{epochs}-epochs.ckpt"
        print(f"saved {self.model_path}")


class ServeModel(L.LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.serving = ""

    def run(self, model_path: str):
        print(f"loading {model_path}")
        self.serving = model_path
        while True:  # a model server runs until the app stops it
            time.sleep(0.05)


class TrainAndServe(L.LightningFlow):
    def __init__(self):
        super().__init__()
        self.train = TrainModel()
        self.serve = ServeModel()

    def run(self):
        self.train.run(epochs=3)
        if self.train.model_path:
            self.serve.run(self.train.model_path)
        if self.serve.serving:
            compute = self.train.cloud_compute.name
            self.stop(f"serving {self.serve.serving} after {self.train.epochs_done} epochs on {compute}")


app = L.LightningApp(TrainAndServe())
