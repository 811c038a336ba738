"""Not an app: a plain ``python inline_script.py`` builds a work and calls it with no runtime around; with
cache_calls=True, w.run(2) twice executes once, and w.run(3) executes again."""

from e2e_common import report

from lightning_ctl.sdk import LightningWork


class Counting(LightningWork):
    def __init__(self):
        super().__init__(cache_calls=True)
        self.executions = 0

    def run(self, value):
        self.executions += 1
        print(f"executing run({value})", flush=True)


w = Counting()
w.run(2)
w.run(2)
report("AFTER_SAME", w.executions)
w.run(3)
report("AFTER_NEW", w.executions)
report("STATUS", w.status.stage)
