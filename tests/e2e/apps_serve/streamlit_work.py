"""A ServeStreamlit work whose page shows one of its attributes."""

from __future__ import annotations

import json

from lightning_ctl.sdk import LightningApp, LightningFlow
from lightning_ctl.sdk.components import ServeStreamlit


class Page(ServeStreamlit):
    def __init__(self) -> None:
        super().__init__()
        self.greeting = "hello from the work"

    def render(self) -> None:
        import streamlit as st

        st.write(self.greeting)


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self.reported = False

    def run(self) -> None:
        self.page.run()
        if self.page.url and not self.reported:
            self.reported = True
            print(f"SERVING {json.dumps({'url': self.page.url, 'ready': self.page.ready})}", flush=True)


app = LightningApp(Root())
