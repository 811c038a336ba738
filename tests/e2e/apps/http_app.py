"""An app served over HTTP: REST routes (configure_api), a command, a layout with a static frontend, and a work that
runs until the flow's ``release`` attribute (set over the REST API) lets it finish."""

import os
import time

from lightning_ctl.sdk import Get, LightningApp, LightningFlow, LightningWork, Post, StaticWebFrontend


class Worker(LightningWork):
    def __init__(self) -> None:
        super().__init__(parallel=True)
        self.go = False

    def run(self) -> None:
        print("worker says hello", flush=True)
        while not self.go:
            time.sleep(0.02)
        print("worker is done", flush=True)


class Ui(LightningFlow):
    def run(self) -> None:
        pass

    def configure_layout(self) -> StaticWebFrontend:
        return StaticWebFrontend(os.path.join(os.path.dirname(os.path.abspath(__file__)), "http_ui"))


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.worker = Worker()
        self.ui = Ui()
        self.items = []
        self.release = False
        self.counter = 0

    def run(self) -> None:
        self.ui.run()
        self.worker.run()
        if self.release:
            self.worker.go = True

    def add_item(self, name: str) -> dict:
        """Add an item."""
        self.items = [*self.items, name]
        return {"added": name, "count": len(self.items)}

    def list_items(self) -> list:
        return self.items

    def fail(self, code: int = 500) -> None:
        raise ValueError(f"asked to fail with {code}")

    def slow(self) -> str:
        time.sleep(3)
        return "late"

    def configure_api(self):
        return [
            Post("/api/v1/items", self.add_item),
            Get("/api/v1/items", self.list_items),
            Get("/api/v1/boom", self.fail),
            Get("/api/v1/slow", self.slow, timeout=0.5),
        ]

    def configure_commands(self):
        return [{"add item": self.add_item}]

    def configure_layout(self):
        return [{"name": "UI", "content": self.ui}, {"name": "API docs", "content": "/docs"}]


app = LightningApp(Root())
