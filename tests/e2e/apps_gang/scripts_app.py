"""The script components: a TracerPythonScript (arguments, env, outputs), a PopenPythonScript that exits 3, and a
script run on two nodes by a MultiNode of PopenPythonScript."""

from gang_common import report

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow
from lightning_ctl.sdk.components import MultiNode, PopenPythonScript, TracerPythonScript


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.tracer = TracerPythonScript("scripts/hello.py", script_args="--name gang", outputs=["answer"],
                                         env={"GREETING": "hi"}, parallel=True)
        self.failing = PopenPythonScript("scripts/exit3.py", raise_exception=False, parallel=True)
        self.nodes = MultiNode(PopenPythonScript, num_nodes=2, cloud_compute=CloudCompute(),
                               script_path="scripts/node.py")

    def run(self):
        self.tracer.run()
        self.failing.run()
        self.nodes.run()
        if self.tracer.has_succeeded and self.failing.has_failed and self.nodes.has_succeeded:
            report("SCRIPTS", {"answer": type(self.tracer.answer).__name__,
                               "failed": self.failing.status.message, "exit_code": self.failing.exit_code})
            self.stop()


app = LightningApp(Root())
