"""A server on the agent labelled role=server; a client on the agent labelled role=client calls it through its
``url``. The flow reports what it sees of the server's address, then keeps serving until stopped."""

from __future__ import annotations

import json
import urllib.request

from serving_work import Server

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork


def report(tag: str, value: object) -> None:
    print(f"{tag} {json.dumps(value)}", flush=True)


class Client(LightningWork):
    def __init__(self) -> None:
        super().__init__(parallel=True, cloud_compute=CloudCompute(labels={"role": "client"}))
        self.answer: dict = {}

    def run(self, url: str) -> None:
        with urllib.request.urlopen(url + "/hello?from=client", timeout=10) as response:
            self.answer = json.loads(response.read())


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.server = Server(cloud_compute=CloudCompute(labels={"role": "server"}))
        self.client = Client()
        self.reported = False

    def run(self) -> None:
        self.server.run()
        if self.server.url:
            self.client.run(self.server.url)
        if self.client.answer and not self.reported:
            self.reported = True
            server = self.server
            report("FLOW_SAW", {"url": server.url, "host": server.host, "port": server.port,
                                "internal_ip": server.internal_ip, "seen": server.seen})
            report("CLIENT_GOT", self.client.answer)


app = LightningApp(Root())
