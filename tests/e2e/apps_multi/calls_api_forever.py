"""A work that reads the app's state through its REST API every 0.1 s, with its own key (NETRC, as a former app's
work would with `requests`), appending each answer's status (or "down") to the file in $API_PROBE_FILE."""

import os
import time

import requests

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk._app_server import app_server_url


class Caller(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)

    def run(self):
        while True:
            try:
                status = str(requests.get(f"{app_server_url()}/api/v1/state", timeout=5).status_code)
            except requests.RequestException:
                status = "down"
            with open(os.environ["API_PROBE_FILE"], "a") as probe:
                probe.write(status + "\n")
            time.sleep(0.1)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.caller = Caller()

    def run(self):
        self.caller.run()


app = LightningApp(Root())
