"""Call caching: cache_calls=True runs the same arguments once (a new argument runs again); cache_calls=False
re-runs the same arguments each time it is called, and num_successes counts every successful run."""

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Counting(LightningWork):
    def __init__(self, cache_calls):
        super().__init__(cache_calls=cache_calls)
        self.executions = 0
        self.args_seen = []

    def run(self, value):
        self.executions += 1
        self.args_seen = self.args_seen + [value]
        print(f"executing run({value!r}) #{self.executions}", flush=True)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.cached = Counting(cache_calls=True)
        self.uncached = Counting(cache_calls=False)

    def run(self):
        # Non-parallel: each call interrupts this body until it has finished; cache hits fall through.
        self.cached.run(1)
        self.cached.run(1)
        self.cached.run(2)
        self.cached.run(1)
        if self.uncached.num_successes < 5:
            self.uncached.run(7)  # the same arguments every time: re-runs only because cache_calls=False
        report("CACHED", {"executions": self.cached.executions, "args": self.cached.args_seen,
                          "num_successes": self.cached.num_successes})
        report("UNCACHED", {"executions": self.uncached.executions, "args": self.uncached.args_seen,
                            "num_successes": self.uncached.num_successes})
        self.stop("caching done")


app = LightningApp(Root())
