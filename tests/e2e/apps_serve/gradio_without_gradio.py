"""An app using ServeGradio: without gradio installed it must fail at load, naming the extra."""

from lightning_ctl.sdk import LightningApp, LightningFlow
from lightning_ctl.sdk.components import ServeGradio


class Ui(ServeGradio):
    inputs = "text"
    outputs = "text"

    def build_model(self):
        return None

    def predict(self, text):
        return text


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.ui = Ui()

    def run(self) -> None:
        self.ui.run()


app = LightningApp(Root())
