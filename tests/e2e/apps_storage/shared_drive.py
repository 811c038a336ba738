"""A Drive shared by three works on two agents: writer_a (agent a) and writer_b (agent b) put files in it, then
reader (agent b, so what writer_a put crosses machines) lists and gets them, and tries what must fail."""

import os

from storage_common import on, report

from lightning_ctl.sdk import Drive, LightningApp, LightningFlow, LightningWork


def attempt(action):
    try:
        return {"ok": action()}
    except Exception as exc:  # noqa: BLE001 - reported
        return {"error": type(exc).__name__, "message": str(exc)}


class WriterA(LightningWork):
    def __init__(self, drive):
        super().__init__(cloud_compute=on("a"))
        self.drive = drive

    def run(self):
        with open("a.txt", "w") as file:
            file.write("from writer_a")
        os.makedirs("folder/sub", exist_ok=True)
        for name in ("folder/one.txt", "folder/sub/two.txt"):
            with open(name, "w") as file:
                file.write(name)
        self.drive.put("a.txt")
        self.drive.put("folder")


class WriterB(LightningWork):
    def __init__(self, drive):
        super().__init__(cloud_compute=on("b"))
        self.drive = drive
        self.duplicate = {}

    def run(self):
        with open("b.txt", "w") as file:
            file.write("from writer_b")
        with open("a.txt", "w") as file:
            file.write("writer_b's own a.txt")
        self.drive.put("b.txt")
        self.duplicate = attempt(lambda: self.drive.put("a.txt"))
        os.remove("a.txt")  # the reader shares this agent's folder: it must get writer_a's a.txt from agent a


class Reader(LightningWork):
    def __init__(self, drive):
        super().__init__(cloud_compute=on("b"))
        self.drive = drive
        self.facts = {}

    def run(self):
        self.drive.get("a.txt")
        self.drive.get("b.txt", component_name="root.writer_b")
        self.drive.get("folder")
        facts = {
            "component": self.drive.component_name,
            "cwd": os.getcwd(),
            "list": self.drive.list(),
            "list_folder": self.drive.list("folder"),
            "list_b": self.drive.list(component_name="root.writer_b"),
            "a": open("a.txt").read(),
            "b": open("b.txt").read(),
            "two": open("folder/sub/two.txt").read(),
            "missing": attempt(lambda: self.drive.get("nope.txt", timeout=0.3)),
            "delete_other": attempt(lambda: self.drive.delete("b.txt")),
            "again": attempt(lambda: self.drive.get("a.txt")),
        }
        with open("a.txt", "w") as file:
            file.write("changed here")
        facts["changed"] = attempt(lambda: self.drive.get("a.txt"))
        facts["overwrite"] = attempt(lambda: self.drive.get("a.txt", overwrite=True))
        facts["a_after"] = open("a.txt").read()
        self.facts = facts


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        drive = Drive("lit://shared")
        self.writer_a = WriterA(drive)
        self.writer_b = WriterB(drive)
        self.reader = Reader(drive)
        self.drive = drive

    def run(self):
        self.writer_a.run()
        self.writer_b.run()
        self.reader.run()
        report("DRIVE", {"reader": self.reader.facts, "duplicate": self.writer_b.duplicate,
                         "in_flow": attempt(lambda: self.drive.list()),
                         "flow_state": self.writer_a.state["vars"]["drive"]})
        self.stop()


app = LightningApp(Root())
