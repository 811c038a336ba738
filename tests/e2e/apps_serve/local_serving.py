"""On the local agent: a server (reached directly by the proxy), a work whose readiness path never answers, and
a work asking for a port that another process of the machine holds (TAKEN_PORT)."""

from __future__ import annotations

import json
import os
import time

from serving_work import Server

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork


def report(tag: str, value: object) -> None:
    print(f"{tag} {json.dumps(value)}", flush=True)


class NeverReady(LightningWork):
    readiness_path = "/health"

    def __init__(self) -> None:
        super().__init__(parallel=True)

    def run(self) -> None:
        time.sleep(3600)


class WantsTakenPort(LightningWork):
    def __init__(self) -> None:
        super().__init__(parallel=True, raise_exception=False, port=int(os.environ["TAKEN_PORT"]))

    def run(self) -> None:
        time.sleep(3600)


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.server = Server()
        self.never = NeverReady()
        self.taken = WantsTakenPort()
        self.done: list = []

    def run(self) -> None:
        for work in (self.server, self.never, self.taken):
            work.run()
        if self.server.url and "server" not in self.done:
            self.done.append("server")
            report("SERVING", {"url": self.server.url, "port": self.server.port})
        message = self.never.status.message or ""
        if message.startswith("not ready") and "never" not in self.done:
            self.done.append("never")
            report("NOT_READY", {"url": self.never.url, "message": message, "port": self.never.port})
        if self.taken.has_failed and "taken" not in self.done:
            self.done.append("taken")
            report("TAKEN", {"reason": self.taken.status.reason, "message": self.taken.status.message})


app = LightningApp(Root())
