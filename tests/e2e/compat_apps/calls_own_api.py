"""A former-framework app whose work calls the app's own REST API with `requests` and no credentials, as apps did
with lightning_app.core.constants.APP_SERVER_PORT: it reads the state, writes an attribute the flow waits for, and
is refused when it tries to stop the app (the app's own credential cannot)."""

import requests
from lightning.app import LightningApp, LightningFlow, LightningWork
from lightning.app.core.constants import APP_SERVER_HOST, APP_SERVER_PORT


class Caller(LightningWork):
    def run(self):
        url = f"{APP_SERVER_HOST}:{APP_SERVER_PORT}"
        state = requests.get(f"{url}/api/v1/state", timeout=10).json()
        state["vars"]["seen"] = state["vars"]["marker"]
        written = requests.post(f"{url}/api/v1/state", json={"state": state}, timeout=10)
        print("POST_STATUS", written.status_code, flush=True)
        stopped = requests.post(f"{url}/api/v1/stop", timeout=10)
        print("STOP_STATUS", stopped.status_code, flush=True)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.caller = Caller()
        self.marker = "hello from the flow"
        self.seen = ""

    def run(self):
        self.caller.run()
        if self.seen and self.caller.has_succeeded:
            print("FLOW_SAW", self.seen, flush=True)
            self.stop()


app = LightningApp(Root())
