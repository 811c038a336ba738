"""run() arguments the former framework pickled: bytes, tuples, sets, dicts with int keys. They arrive as they were
(encoded as tagged JSON, never pickled), and the call cache tells them apart."""

import json

from lightning.app import LightningApp, LightningFlow, LightningWork


class PickleChecker(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.seen = []

    def run(self, image: bytes, size=(0, 0), tags=frozenset(), table=None):
        self.seen = self.seen + [[type(v).__name__ for v in (image, size, tags, table)]]
        print("RECEIVED", json.dumps([image.decode(), list(size), sorted(tags), sorted(table.items())]))


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.checker = PickleChecker()

    def run(self):
        self.checker.run(b"it is not a pickle", size=(64, 64), tags=frozenset({"a", "b"}), table={1: "one"})
        self.checker.run(b"it is a pickle", size=(64, 64), tags=frozenset({"a", "b"}), table={1: "one"})
        if len(self.checker.seen) == 2:
            self.stop("SEEN " + json.dumps(self.checker.seen))


app = LightningApp(Root())
