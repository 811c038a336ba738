"""Call caching: the same arguments run once with cache_calls=True, every time with cache_calls=False.

    lightning-ctl run examples/caching.py
"""

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Square(LightningWork):
    """Squares its argument; counts how often it really ran."""

    def __init__(self, cache_calls: bool) -> None:
        super().__init__(cache_calls=cache_calls)
        self.executions = 0
        self.result = 0

    def run(self, x: int) -> None:
        self.executions += 1
        self.result = x * x


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.cached = Square(cache_calls=True)
        self.uncached = Square(cache_calls=False)

    def run(self) -> None:
        # Blocking calls: the body stops at a call until it has finished, then runs again from the top.
        self.cached.run(7)
        self.cached.run(7)  # same arguments: a cache hit, it does not run again
        if self.uncached.executions < 3:
            self.uncached.run(7)  # cache_calls=False: runs again each time it is called after finishing
        print(f"cached ran {self.cached.executions}x, uncached ran {self.uncached.executions}x "
              f"(num_successes={self.uncached.num_successes}), result={self.cached.result}")
        self.stop()


app = LightningApp(Root())
