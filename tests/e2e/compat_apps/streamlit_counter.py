"""A former-framework app with a StreamlitFrontend whose button bumps a flow attribute through AppState."""

from lightning.app import LightningApp, LightningFlow
from lightning.app.frontend import StreamlitFrontend


def render(state):
    import streamlit as st
    st.write("COUNTER", state.counter)
    if st.button("bump"):
        state.counter += 1


class Ui(LightningFlow):
    def __init__(self):
        super().__init__()
        self.counter = 0

    def run(self):
        pass

    def configure_layout(self):
        return StreamlitFrontend(render_fn=render)


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.ui = Ui()

    def run(self):
        self.ui.run()

    def configure_layout(self):
        return [{"name": "Counter", "content": self.ui}]


app = LightningApp(Root())
