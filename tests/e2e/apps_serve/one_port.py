"""Two works for an agent with one port: the server holds it, so the second waits; the flow reports why."""

from __future__ import annotations

import json
import time

from serving_work import Server

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


class Second(LightningWork):
    def __init__(self) -> None:
        super().__init__(parallel=True, start_with_flow=False)

    def run(self) -> None:
        time.sleep(3600)


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.server = Server()
        self.second = Second()
        self.reported = False

    def run(self) -> None:
        self.server.run()
        if self.server.url:
            self.second.run()
        message = self.second.status.message or ""
        if "port" in message and not self.reported:
            self.reported = True
            print(f"PENDING {json.dumps(message)}", flush=True)


app = LightningApp(Root())
