"""TracerPythonScript, PopenPythonScript and Tracer, run inline (no app): the script's arguments, environment,
globals and exit status."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from lightning_ctl.sdk.components import PopenPythonScript, Tracer, TracerPythonScript
from lightning_ctl.sdk.errors import LightningWorkException


def script(folder: Path, body: str) -> str:
    path = folder / "script.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


class Greeter:
    def __init__(self, name: str = "nobody") -> None:
        self.name = name


class TestTracer:
    def test_pre_fn_changes_the_arguments_and_the_class_is_restored(self) -> None:
        """A traced __init__ gets the pre_fn's arguments while the call runs; the class is as before after."""
        tracer = Tracer()
        tracer.add_traced(Greeter, "__init__", pre_fn=lambda g, *a, **k: ({"seen": k}, a, {**k, "name": "traced"}))
        made = tracer.call(lambda: Greeter(name="x"))
        assert made.name == "traced" and tracer.res["Greeter"] == [{"method": "__init__", "pre": {"seen": {"name": "x"}}}]
        assert Greeter(name="y").name == "y" and "__init__" in Greeter.__dict__


class TestTracerPythonScript:
    def test_runs_the_script_with_args_env_and_keeps_outputs(self, tmp_path, monkeypatch) -> None:
        """The script sees its argv, its env (only while it runs) and the run's kwargs as globals; outputs are kept."""
        monkeypatch.delenv("GREETING", raising=False)
        path = script(tmp_path, """
            import os, sys
            answer = [sys.argv[1:], os.environ["GREETING"], node_rank]
        """)
        work = TracerPythonScript(path, script_args="--x 1", outputs=["answer"], env={"GREETING": "hi"})
        work.run(node_rank=2)
        assert work.answer.value == [["--x", "1"], "hi", 2]
        assert "GREETING" not in __import__("os").environ

    def test_exit_zero_succeeds_and_other_statuses_fail(self, tmp_path) -> None:
        """sys.exit(0) is a success; sys.exit(3) fails the call naming the script and the status."""
        TracerPythonScript(script(tmp_path, "import sys; sys.exit(0)")).run()
        with pytest.raises(LightningWorkException, match="exited with status 3"):
            TracerPythonScript(script(tmp_path, "import sys; sys.exit(3)")).run()

    def test_a_missing_script_is_named(self, tmp_path) -> None:
        """A script that is not there fails the call with its path."""
        with pytest.raises(FileNotFoundError, match="nowhere.py"):
            TracerPythonScript(str(tmp_path / "nowhere.py")).run()


class TestPopenPythonScript:
    def test_runs_in_a_child_and_records_pid_and_status(self, tmp_path, capfd) -> None:
        """The child's output is the work's; pid and exit_code are recorded; env is added to the work's."""
        path = script(tmp_path, "import os, sys; print('child says', os.environ['EXTRA'], sys.argv[1:])")
        work = PopenPythonScript(path, script_args=["a", "b"], env={"EXTRA": "yes"})
        work.run()
        assert work.exit_code == 0 and work.pid
        assert "child says yes ['a', 'b']" in capfd.readouterr().out

    def test_a_failing_script_fails_the_call_with_its_status(self, tmp_path) -> None:
        """Exit status 4 fails the call, naming the script and the status."""
        work = PopenPythonScript(script(tmp_path, "raise SystemExit(4)"))
        with pytest.raises(LightningWorkException, match="exited with status 4"):
            work.run()
        assert work.exit_code == 4

    def test_gang_arguments_are_accepted(self, tmp_path) -> None:
        """As a MultiNode node its run takes the rendezvous (the script reads the environment)."""
        work = PopenPythonScript(script(tmp_path, "pass"))
        work.run(main_address="h", main_port=1, num_nodes=2, node_rank=1)
        assert work.exit_code == 0 and sys.executable
