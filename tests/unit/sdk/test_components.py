"""The works that serve (sdk.components): served under the former framework's names, and each one refusing to be
built without its optional library, naming the extra to install."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap

import pytest

from lightning_ctl.sdk import components
from lightning_ctl.sdk.components import PythonServer, ServeGradio, ServeStreamlit


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


def test_the_former_frameworks_names_give_the_sdks_components() -> None:
    """lightning.app.components and lightning_app.components.serve serve PythonServer and its types."""
    done = _run("""
        from lightning_ctl.sdk import _compat, components
        _compat.install()
        from lightning.app.components import PythonServer, Image, Text, Number, Category, ServeGradio
        from lightning_app.components.serve import ServeStreamlit
        from lightning_app.components.serve.python_server import PythonServer as P2
        assert PythonServer is components.PythonServer is P2 and ServeStreamlit is components.ServeStreamlit
        assert Image is components.Image and Text(text="a").text == "a"
        print("ok")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_importing_the_components_loads_no_web_library() -> None:
    """sdk.components imports neither fastapi, uvicorn, pydantic, gradio nor streamlit until one is used."""
    done = _run("""
        import sys
        import lightning_ctl.sdk.components
        print(sorted(m for m in ("fastapi", "uvicorn", "pydantic", "gradio", "streamlit") if m in sys.modules))
    """)
    assert done.stdout.strip() == "[]", done.stderr


class _Echo(PythonServer):
    def predict(self, request):  # noqa: ANN001, ANN201
        return {"prediction": request.payload}


@pytest.mark.parametrize(("component", "extra", "missing"), [
    (_Echo, "serve", "uvicorn"),
    (type("Ui", (ServeGradio,), {"inputs": "text", "outputs": "text", "predict": lambda self: None,
                                 "build_model": lambda self: None}), "gradio", "gradio"),
    (type("Page", (ServeStreamlit,), {"render": lambda self: None}), "streamlit", "streamlit"),
])
def test_a_component_without_its_library_names_the_extra(monkeypatch, component, extra, missing) -> None:
    """Building a component whose library is missing fails with ModuleNotFoundError naming the extra."""
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == missing else real(name, *a))
    with pytest.raises(ModuleNotFoundError) as raised:
        component()
    assert f"pip install 'lightning-ctl[{extra}]'" in str(raised.value) and missing in str(raised.value)


def test_python_server_checks_its_types_and_serves_in_parallel() -> None:
    """A type that is not a pydantic model is refused naming the argument; the server is always parallel and
    declares its readiness path and ready attribute."""
    with pytest.raises(TypeError, match="input_type"):
        _Echo(input_type=dict)
    server = _Echo(output_type=components.Text)
    assert server.parallel and server.readiness_path == "/healthz" and server.ready is False
    assert server.configure_output_type() is components.Text


def test_a_streamlit_work_names_the_file_that_defines_it() -> None:
    """The file comes from the class's own functions (a wrapped run too), not from its module's registration."""
    from lightning_ctl.sdk.components._serve_streamlit import _defining_file

    class Page(ServeStreamlit):
        def run(self) -> None:
            pass

        def render(self) -> None:
            pass

    Page.__module__ = "__main__"
    assert _defining_file(Page) == __file__
