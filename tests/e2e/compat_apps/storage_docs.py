"""Files between works as the former framework's docs wrote them, imported from lightning.app.storage unchanged: a
Path attribute set to a lit:// string, a Payload, and a Drive; run with lightning-ctl's local agent."""

from lightning.app import LightningApp, LightningFlow, LightningWork
from lightning.app.storage import Drive, Path, Payload


class SourceWork(LightningWork):
    def __init__(self, drive):
        super().__init__()
        self.boring_path = None
        self.payload = None
        self.drive = drive

    def run(self):
        # This should be used as a REFERENCE to the file.
        self.boring_path = "lit://boring_file.txt"
        with open(self.boring_path, "w", encoding="utf-8") as f:
            f.write("Hello World !")
        self.payload = Payload(["a", 1])
        with open("shared.txt", "w") as f:
            f.write("in the drive")
        self.drive.put("shared.txt")


class DestinationWork(LightningWork):
    def __init__(self, drive):
        super().__init__()
        self.drive = drive

    def run(self, boring_path, payload):
        assert isinstance(boring_path, Path) and boring_path.exists()
        print("GOT", open(boring_path).read(), payload.value, self.drive.list(), flush=True)


class RootFlow(LightningFlow):
    def __init__(self):
        super().__init__()
        drive = Drive("lit://docs")
        self.source_work = SourceWork(drive)
        self.dest_work = DestinationWork(drive)

    def run(self):
        self.source_work.run()
        if self.source_work.boring_path:
            assert isinstance(self.source_work.boring_path, Path)
            self.dest_work.run(self.source_work.boring_path, self.source_work.payload)
        if self.dest_work.has_succeeded:
            print("FLOW", self.source_work.payload.value, self.source_work._paths["boring_path"]["path"], flush=True)
            self.stop()


app = LightningApp(RootFlow())
