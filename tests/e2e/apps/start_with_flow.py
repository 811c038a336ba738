"""on_start runs in the work's process before its first call; a start_with_flow work is "started" on the first
flow run, while a start_with_flow=False work stays "not_started" (no process) until it is called."""

from e2e_common import report, say

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Hooked(LightningWork):
    def __init__(self, start_with_flow):
        super().__init__(start_with_flow=start_with_flow)
        self.on_start_ran = False

    def on_start(self):
        print("on_start", flush=True)
        self.on_start_ran = True

    def run(self):
        print(f"run (on_start_ran={self.on_start_ran})", flush=True)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.eager = Hooked(start_with_flow=True)
        self.lazy = Hooked(start_with_flow=False)
        self.runs = 0

    def run(self):
        self.runs += 1
        if self.runs == 1:
            report("FIRST_RUN", {"eager": self.eager.status.stage, "lazy": self.lazy.status.stage})
        self.eager.run()
        if self.lazy.status.stage == "not_started":
            report("LAZY_AFTER_EAGER", {"lazy": self.lazy.status.stage, "eager": self.eager.status.stage})
        self.lazy.run()
        say("both done")
        self.stop()


app = LightningApp(Root())
