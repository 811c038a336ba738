"""A producer on agent a makes a big file (STORAGE_BYTES, 1 GiB by default: sparse, with random blocks); a consumer
on agent b gets it as a run() argument and reports its sha256."""

import hashlib
import os
import time

from storage_common import on, report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork, Path

SIZE = int(os.environ.get("STORAGE_BYTES", str(1 << 30)))
BLOCK = 1 << 20
STRIDE = 64 << 20


def sha256(path):
    hasher = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(4 << 20):
            hasher.update(block)
    return hasher.hexdigest()


class Producer(LightningWork):
    def __init__(self):
        super().__init__(cloud_compute=on("a"))
        self.big = None
        self.digest = ""
        self.made_at = 0.0

    def run(self):
        with open("big.bin", "wb") as file:
            file.truncate(SIZE)
            for offset in range(0, SIZE, STRIDE):
                file.seek(offset)
                file.write(os.urandom(min(BLOCK, SIZE - offset)))
        self.digest = sha256("big.bin")
        self.big = Path("big.bin")
        self.made_at = time.time()


class Consumer(LightningWork):
    def __init__(self):
        super().__init__(cloud_compute=on("b"))
        self.facts = {}

    def run(self, big):
        started = time.time()
        self.facts = {"cwd": os.getcwd(), "digest": sha256(big), "size": os.path.getsize(big), "started": started}


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.producer = Producer()
        self.consumer = Consumer()

    def run(self):
        self.producer.run()
        self.consumer.run(self.producer.big)
        report("BIG", {"produced": self.producer.digest, "consumed": self.consumer.facts,
                       "made_at": self.producer.made_at, "persisted_at": self.producer.status.timestamp})
        self.stop()


app = LightningApp(Root())
