"""A producer on agent a makes a file, a folder and a Payload; a consumer on agent b gets all three as run()
arguments, in its own working directory, before its run() starts. With STORAGE_HOLD=1, the app then keeps
running until stopped."""

import hashlib
import os

from storage_common import on, report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork, Path, Payload


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


class Producer(LightningWork):
    def __init__(self):
        super().__init__(cloud_compute=on("a"))
        self.file = None
        self.folder = None
        self.result = None
        self.facts = {}

    def run(self):
        os.makedirs("out/sub/empty", exist_ok=True)
        with open("out/data.txt", "w") as file:
            file.write("hello from the producer")
        with open("out/sub/blob.bin", "wb") as file:
            file.write(os.urandom(300_000))
        self.file = Path("out/data.txt")
        self.folder = Path("out")
        self.result = Payload({"answer": 42})
        self.facts = {"cwd": os.getcwd(), "blob": digest("out/sub/blob.bin")}


class Consumer(LightningWork):
    def __init__(self):
        super().__init__(cloud_compute=on("b"))
        self.facts = {}

    def run(self, file, folder, result):
        self.facts = {
            "cwd": os.getcwd(),
            "text": open(file).read(),
            "file_type": type(file).__name__,
            "origin": file.origin_name,
            "consumer": file.consumer_name,
            "blob": digest(folder / "sub" / "blob.bin"),
            "empty_dir": os.path.isdir(os.path.join(folder, "sub", "empty")),
            "payload": result.value,
        }


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.producer = Producer()
        self.consumer = Consumer()
        self._holding = False

    def run(self):
        self.producer.run()
        self.consumer.run(self.producer.file, self.producer.folder, self.producer.result)
        if os.environ.get("STORAGE_HOLD"):
            if not self._holding:
                self._holding = True
                report("HOLDING", True)  # the test stops the app (lightning-ctl stop) once done with it
            return
        report("HANDOFF", {"producer": self.producer.facts, "consumer": self.consumer.facts,
                           "flow_file": str(self.producer.file), "flow_payload_value": self.producer.result.value,
                           "paths": self.producer._paths})
        self.stop()


app = LightningApp(Root())
