"""The input and output types of a PythonServer.

Pydantic models, each with sample data (shown in its API docs) and client code samples. Built only when imported
(pydantic is the ``serve`` extra's).
"""

from __future__ import annotations

from typing import Any, Optional

from lightning_ctl.sdk.components._extras import require

require("PythonServer's types", "serve", "pydantic")

from pydantic import BaseModel  # noqa: E402 - after the check that names the extra

_ONE_PIXEL_PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)
"""A 1x1 PNG, base64: sample data that needs no download."""


class DefaultInput(BaseModel):
    """What a PythonServer takes by default: ``{"payload": "..."}``."""

    payload: str


class DefaultOutput(BaseModel):
    """What a PythonServer returns by default: ``{"prediction": "..."}``."""

    prediction: str


class Image(BaseModel):
    """An image as base64 text (``{"image": "<base64 PNG/JPEG>"}``)."""

    image: Optional[str] = None

    @staticmethod
    def get_sample_data() -> dict[str, Any]:
        """A tiny PNG."""
        return {"image": _ONE_PIXEL_PNG}

    @staticmethod
    def request_code_sample(url: str) -> str:
        """Python that sends an image to ``url``."""
        return (
            "import base64, requests\n"
            "image = base64.b64encode(open('image.png', 'rb').read()).decode()\n"
            f"response = requests.post({url!r}, json={{'image': image}})\n"
        )

    @staticmethod
    def response_code_sample() -> str:
        """Python that saves the image a server answered."""
        return "open('response.png', 'wb').write(base64.b64decode(response.json()['image']))\n"


class Category(BaseModel):
    """A class index (``{"category": 3}``)."""

    category: Optional[int] = None

    @staticmethod
    def get_sample_data() -> dict[str, Any]:
        """A class index."""
        return {"category": 463}

    @staticmethod
    def response_code_sample() -> str:
        """Python that prints the category a server answered."""
        return "print('category:', response.json()['category'])\n"


class Text(BaseModel):
    """A text (``{"text": "..."}``)."""

    text: Optional[str] = None

    @staticmethod
    def get_sample_data() -> dict[str, Any]:
        """A sentence."""
        return {"text": "A portrait of a person looking away from the camera"}

    @staticmethod
    def request_code_sample(url: str) -> str:
        """Python that sends a text to ``url``."""
        return f"import requests\nresponse = requests.post({url!r}, json={{'text': 'hello'}})\n"


class Number(BaseModel):
    """A number (``{"prediction": 3}``): the former framework's name, kept for its apps."""

    prediction: Optional[int] = None

    @staticmethod
    def get_sample_data() -> dict[str, Any]:
        """A number."""
        return {"prediction": 463}
