"""PythonServer: a work serving ``predict`` over HTTP (FastAPI, uvicorn: the ``serve`` extra).

Routes::

    POST /predict   the request body as the input type, the answer as the output type (pydantic models)
    GET  /healthz   200 once the server runs: the work's readiness path (its ``url`` is set then)
    GET  /docs      the API's interactive docs (also through the control plane's ``/works/<name>/docs``)
"""

import abc
import asyncio
import contextlib
from typing import Any, AsyncIterator, Callable, Optional

from lightning_ctl.sdk._work import LightningWork
from lightning_ctl.sdk.components._asgi import ForwardedPrefix, serve_asgi
from lightning_ctl.sdk.components._extras import require


class PythonServer(LightningWork, abc.ABC):
    """Serve a model: ``setup`` runs once in the work's process, ``predict`` once per request.

    Args:
        input_type: A pydantic model the request body must match (default ``{"payload": str}``).
        output_type: A pydantic model of the answer (default ``{"prediction": str}``).
        **kwargs: The LightningWork's arguments (``cloud_compute``, ``port``...); it always runs in parallel.

    Raises:
        ModuleNotFoundError: fastapi, uvicorn or pydantic is not installed (the ``serve`` extra).
        TypeError: a type is not a pydantic model.

    Example::

        class Echo(PythonServer):
            def setup(self):
                self._model = lambda text: text.upper()

            def predict(self, request):
                return {"prediction": self._model(request.payload)}
    """

    readiness_path = "/healthz"

    def __init__(self, input_type: Optional[type] = None, output_type: Optional[type] = None, **kwargs: Any) -> None:
        require(type(self).__name__, "serve", "fastapi", "uvicorn", "pydantic")
        from pydantic import BaseModel

        from lightning_ctl.sdk.components._serve_types import DefaultInput, DefaultOutput

        kwargs["parallel"] = True
        super().__init__(**kwargs)
        input_type = input_type or DefaultInput
        output_type = output_type or DefaultOutput
        for name, given in (("input_type", input_type), ("output_type", output_type)):
            if not (isinstance(given, type) and issubclass(given, BaseModel)):
                raise TypeError(f"{type(self).__name__}({name}={given!r}): must be a pydantic BaseModel class")
        self._input_type = input_type
        self._output_type = output_type
        self.ready = False

    def setup(self, *args: Any, **kwargs: Any) -> None:
        """Load the model (once, in the work's process, before the server starts): override it."""

    @abc.abstractmethod
    def predict(self, request: Any) -> Any:
        """Answer one request (an ``input_type`` instance) with an ``output_type`` (or a dict of its fields)."""

    def configure_input_type(self) -> type:
        """The request's model."""
        return self._input_type

    def configure_output_type(self) -> type:
        """The answer's model."""
        return self._output_type

    def run(self, *args: Any, **kwargs: Any) -> None:
        """Run ``setup``, then serve on the work's host and port until the work is stopped."""
        self.setup(*args, **kwargs)
        app = self._build_app()
        print(f"Your {type(self).__name__} has started. View it in your browser: http://{self.host}:{self.port}/docs",
              flush=True)
        serve_asgi(self, app)

    def _build_app(self) -> Any:
        from fastapi import FastAPI

        @contextlib.asynccontextmanager
        async def lifespan(app: Any) -> AsyncIterator[None]:
            self.ready = True
            yield

        app = FastAPI(title=type(self).__name__, lifespan=lifespan)
        app.add_middleware(ForwardedPrefix)
        predict = self.predict
        endpoint: Callable[[Any], Any]
        if asyncio.iscoroutinefunction(predict):
            async def predict_async(request: Any) -> Any:
                return await predict(request)
            endpoint = predict_async
        else:
            def predict_in_thread(request: Any) -> Any:  # FastAPI runs it in its thread pool
                return predict(request)
            endpoint = predict_in_thread
        endpoint.__annotations__ = {"request": self.configure_input_type(), "return": Any}
        app.post("/predict", response_model=self.configure_output_type())(endpoint)
        app.get("/healthz")(_healthz)
        return app


async def _healthz() -> dict[str, bool]:
    return {"ready": True}
