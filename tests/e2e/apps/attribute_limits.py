"""Attribute values against the size limit: one assigned past it, one grown past it in place, one just under it.

``ATTR_BIG_BYTES`` sets the size of the value assigned past the limit (default 70 MB); the flow reports each work's
final status and what it saw of each attribute, then ends.
"""

import os

from e2e_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

BIG = int(os.environ.get("ATTR_BIG_BYTES", str(70 * 10**6)))
UNDER = int(os.environ.get("ATTR_UNDER_BYTES", "1000"))


class Assigns(LightningWork):
    def __init__(self):
        super().__init__(parallel=True, raise_exception=False)
        self.blob = "small"

    def run(self):
        self.blob = "x" * BIG


class Grows(LightningWork):
    def __init__(self):
        super().__init__(parallel=True, raise_exception=False)
        self.items = []

    def run(self):
        while len(self.items) * 1000 < BIG:
            self.items.append("y" * 1000)


class Fits(LightningWork):
    def __init__(self):
        super().__init__(parallel=True, raise_exception=False)
        self.blob = ""

    def run(self):
        self.blob = "z" * UNDER


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.assigns = Assigns()
        self.grows = Grows()
        self.fits = Fits()

    def run(self):
        works = {"assigns": self.assigns, "grows": self.grows, "fits": self.fits}
        for work in works.values():
            work.run()
        if all(work.has_succeeded or work.has_failed for work in works.values()):
            report("OUTCOME", {
                name: {"stage": work.status.stage, "message": work.status.message or ""}
                for name, work in works.items()
            })
            report("SEEN", {"assigns": len(self.assigns.blob), "fits": len(self.fits.blob),
                            "grows": len(self.grows.items)})
            self.stop()


app = LightningApp(Root())
