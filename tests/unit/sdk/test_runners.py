"""Unit tests for sdk._runners: MultiProcessRuntime(app).dispatch() becomes `lightning-ctl run`, CloudRuntime says
what to do instead."""

from __future__ import annotations

import sys

import pytest

from lightning_ctl.sdk import _runners
from lightning_ctl.sdk._loader_args import loading_app
from lightning_ctl.sdk.errors import NotSupportedError


def test_dispatch_execs_lightning_ctl_run_with_the_runtimes_options(monkeypatch, tmp_path) -> None:
    """The app file of __main__ and the script's arguments go to `lightning-ctl run`, with start_server, host, port
    and env_vars as its options."""
    app_file = tmp_path / "app.py"
    app_file.write_text("")
    main = type(sys)("__main__")
    main.__file__ = str(app_file)
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", [str(app_file), "--epochs", "3"])
    execs: list[list[str]] = []
    monkeypatch.setattr(_runners.os, "execv", lambda path, argv: execs.append(list(argv)))
    _runners.MultiProcessRuntime(None, host="0.0.0.0", port=8080, env_vars={"A": "1"}).dispatch(open_ui=False)
    _runners.MultiProcessRuntime(None, start_server=False, port=8080).dispatch()
    first, second = execs
    assert first[first.index("run"):] == ["run", str(app_file), "--host", "0.0.0.0", "--http-port", "8080", "--env",
                                          "A=1", "--", "--epochs", "3"]
    assert "lightning_ctl.controlplane" in first[2] and first[0] == sys.executable
    assert second[second.index("run"):] == ["run", str(app_file), "--no-http", "--", "--epochs", "3"]


def test_dispatch_does_nothing_while_an_app_file_loads(monkeypatch) -> None:
    """Inside lightning-ctl's own loading of the file, dispatch() returns at once."""
    monkeypatch.setattr(_runners.os, "execv", lambda *args: pytest.fail("must not exec"))
    with loading_app():
        assert _runners.MultiProcessRuntime(None).dispatch() is None


def test_dispatch_outside_an_app_file_says_how_to_run_it(monkeypatch) -> None:
    """Without a script file (a REPL), dispatch() raises NotSupportedError naming lightning-ctl run."""
    monkeypatch.setitem(sys.modules, "__main__", type(sys)("__main__"))
    with pytest.raises(NotSupportedError, match="lightning-ctl run app.py"):
        _runners.MultiProcessRuntime(None).dispatch()
