"""Works created while the app runs: ``lightning.app`` imports and a ``structures.Dict`` filled in ``run()``.

The flow adds one work per number on its first runs; each work squares its number in its own process.

    lightning-ctl run dynamic_works.py
"""

from lightning.app import LightningApp, LightningFlow, LightningWork
from lightning.app.structures import Dict


class Square(LightningWork):
    def __init__(self, number: int):
        super().__init__(parallel=True)
        self.number = number
        self.result = None

    def run(self):
        self.result = self.number**2
        print(f"{self.number} squared is {self.result}")


class Fleet(LightningFlow):
    def __init__(self):
        super().__init__()
        self.squares = Dict()

    def run(self):
        for number in range(1, 5):
            key = f"square_{number}"
            if key not in self.squares:
                self.squares[key] = Square(number)
            self.squares[key].run()
        if all(work.has_succeeded for work in self.squares.values()):
            results = {key: work.result for key, work in self.squares.items()}
            print(f"results {sorted(results.items())}")
            self.stop(f"sum of squares: {sum(results.values())}")


app = LightningApp(Fleet())
