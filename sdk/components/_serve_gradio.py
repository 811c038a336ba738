"""ServeGradio: a work serving a Gradio UI around its ``predict`` (the ``gradio`` extra)."""

from __future__ import annotations

import abc
import functools
import inspect
from typing import Any, Optional

from lightning_ctl.sdk._work import LightningWork
from lightning_ctl.sdk.components._asgi import ForwardedPrefix, serve_asgi
from lightning_ctl.sdk.components._extras import require


class ServeGradio(LightningWork, abc.ABC):
    """A Gradio interface: ``build_model`` once in the work's process, ``predict`` per submission.

    Class attributes ``inputs`` and ``outputs`` (Gradio components) are required; ``examples``, ``title``,
    ``description`` and ``enable_queue`` are optional. Its UI is at its ``url`` and at the control plane's
    ``/works/<name>/``.

    Args:
        theme: A Gradio theme (Gradio's default when None).
        **kwargs: The LightningWork's arguments; it always runs in parallel.

    Raises:
        ModuleNotFoundError: gradio is not installed (the ``gradio`` extra).
        TypeError: ``inputs`` or ``outputs`` is missing.
    """

    inputs: Any = None
    outputs: Any = None
    examples: Optional[list] = None
    enable_queue: bool = False
    title: Optional[str] = None
    description: Optional[str] = None
    readiness_path = "/config"

    def __init__(self, *args: Any, theme: Any = None, **kwargs: Any) -> None:
        require(type(self).__name__, "gradio", "gradio")
        if self.inputs is None or self.outputs is None:
            raise TypeError(f"{type(self).__name__} must set the class attributes inputs and outputs (Gradio "
                            "components)")
        kwargs["parallel"] = True
        super().__init__(*args, **kwargs)
        self._theme = theme
        self._model: Any = None
        self.ready = False

    @property
    def model(self) -> Any:
        """What ``build_model`` returned (None before the work runs)."""
        return self._model

    @abc.abstractmethod
    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """Answer one submission of the UI's inputs."""

    @abc.abstractmethod
    def build_model(self) -> Any:
        """Build the model (once, in the work's process); it is ``self.model`` then."""

    def run(self, *args: Any, **kwargs: Any) -> None:
        """Build the model and serve the interface on the work's host and port until the work is stopped."""
        import gradio

        if self._model is None:
            self._model = self.build_model()
        fn = functools.partial(self.predict, *args, **kwargs)
        fn.__name__ = self.predict.__name__  # type: ignore[attr-defined]
        from fastapi import FastAPI

        # Gradio 6 takes the theme when mounting, earlier ones when building the interface.
        themed = "theme" in inspect.signature(gradio.mount_gradio_app).parameters
        theme = {"theme": self._theme} if self._theme is not None else {}
        interface = gradio.Interface(fn=fn, inputs=self.inputs, outputs=self.outputs, examples=self.examples,
                                     title=self.title, description=self.description, **({} if themed else theme))
        if self.enable_queue:
            interface.queue()
        # Mounted and served here rather than by launch(): behind the control plane's proxy the page must know the
        # path it is served under (X-Forwarded-Prefix), and reached directly it must not.
        app = gradio.mount_gradio_app(FastAPI(), interface, path="", show_error=True, **(theme if themed else {}))
        self.ready = True
        serve_asgi(self, ForwardedPrefix(app))

    def configure_layout(self) -> str:
        """Its UI: its url."""
        return self.url
