"""Producers on agent a, consumers on agent b, in four situations (each consumer has raise_exception=False and
reports its outcome):

- stopped: the producer made its file and was stopped before the consumer asked (it persisted it when stopped);
- died: the producer made its file and was killed (SIGKILL) before persisting it;
- missing: the producer's Path names a file it never made;
- live: the producer made its file and is still running (never persisted it): its agent hands it over.
"""

import os
import signal
import time

from storage_common import on, report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork, Path

CASES = ("stopped", "died", "missing", "live")


class Producer(LightningWork):
    def __init__(self, case):
        super().__init__(parallel=True, cloud_compute=on("a"), raise_exception=False)
        self.case = case
        self.made = None

    def run(self):
        if self.case != "missing":
            with open(f"{self.case}.txt", "w") as file:
                file.write(f"made by the {self.case} producer")
        self.made = Path(f"{self.case}.txt")
        if self.case == "died":
            time.sleep(0.5)  # the flow has the Path by then
            os.kill(os.getpid(), signal.SIGKILL)
        if self.case in ("stopped", "live"):
            while True:
                time.sleep(0.1)


class Consumer(LightningWork):
    def __init__(self):
        super().__init__(parallel=True, cloud_compute=on("b"), raise_exception=False)
        self.text = None

    def run(self, made):
        self.text = open(made).read()


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        for case in CASES:
            setattr(self, f"producer_{case}", Producer(case))
            setattr(self, f"consumer_{case}", Consumer())

    def ready_to_consume(self, case, producer):
        if case == "stopped":
            if producer.made is not None and not producer.has_stopped:
                producer.stop()
            return producer.has_stopped
        if case == "died":
            return producer.has_failed
        return producer.made is not None and (case == "live" or producer.has_succeeded)

    def run(self):
        outcomes = {}
        for case in CASES:
            producer, consumer = getattr(self, f"producer_{case}"), getattr(self, f"consumer_{case}")
            producer.run()
            if self.ready_to_consume(case, producer):
                consumer.run(producer.made)
            if consumer.has_succeeded or consumer.has_failed:
                outcomes[case] = {"stage": consumer.status.stage, "text": consumer.text,
                                  "message": consumer.status.message}
        if len(outcomes) == len(CASES):
            report("OUTCOMES", outcomes)
            self.stop()


app = LightningApp(Root())
