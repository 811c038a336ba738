"""A flow whose UI is a server of its own (a custom Frontend): the control plane starts it on a free loopback port
and reaches it through /ui/<flow>/, and stops it when the app ends."""

import os
import subprocess
import sys
import tempfile

from lightning_ctl.sdk import Frontend, LightningApp, LightningFlow


class PlainServer(Frontend):
    """Serves one page with Python's http.server, under the root path it is given."""

    def start_server(self, host, port, root_path=""):
        folder = tempfile.mkdtemp()
        page = os.path.join(folder, root_path.strip("/"))
        os.makedirs(page)
        with open(os.path.join(page, "index.html"), "w") as file:
            file.write("<h1 id='greeting'>served by the flow's own server</h1>")
        with open(os.path.join(folder, "pid"), "w") as file:
            file.write(str(os.getpid()))
        self._process = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", host,
                                          "--directory", folder], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print("FRONTEND_PID", self._process.pid, flush=True)

    def stop_server(self):
        self._process.terminate()
        self._process.wait(10)


class Ui(LightningFlow):
    def run(self):
        pass

    def configure_layout(self):
        return PlainServer()


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.ui = Ui()

    def run(self):
        self.ui.run()


app = LightningApp(Root())
