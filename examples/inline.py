"""Works run in-process, with the same call caching, when there is no app around them.

    python examples/inline.py
"""

from lightning_ctl.sdk import LightningWork


class Adder(LightningWork):
    def __init__(self) -> None:
        super().__init__(cache_calls=True)
        self.total = 0

    def run(self, x: int) -> None:
        self.total += x


if __name__ == "__main__":
    adder = Adder()
    adder.run(2)
    adder.run(2)  # cached: same arguments
    adder.run(3)
    print(f"total={adder.total} successes={adder.num_successes}")  # total=5 successes=2
