"""Tests for sdk._loader: running an app file, finding its one LightningApp, errors pointing at user code."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from lightning_ctl.sdk import LightningApp, LightningWork
from lightning_ctl.sdk._loader import load_app, user_traceback
from lightning_ctl.sdk.errors import AppImportError

GOOD_APP = """\
from lightning_ctl.sdk import LightningApp, LightningFlow


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.counter = 0

    def run(self):
        self.stop()


app = LightningApp(Root())
"""


@pytest.fixture(autouse=True)
def restore_sys_path(monkeypatch):
    """load_app puts the app's folder on sys.path; undo that after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))


def write(tmp_path: Path, source: str, name: str = "app.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


class TestLoadApp:
    def test_good_app_is_returned_with_its_module(self, tmp_path):
        """A file defining one LightningApp returns it and the module it ran as."""
        path = write(tmp_path, GOOD_APP)
        app, module = load_app(path)
        assert isinstance(app, LightningApp)
        assert module.app is app
        assert module.__name__ == "__main__"
        assert module.__file__ == str(path.resolve())
        assert app.root.name == "root"

    def test_main_module_is_restored(self, tmp_path):
        """After loading, sys.modules["__main__"] is what it was before."""
        before = sys.modules["__main__"]
        load_app(write(tmp_path, GOOD_APP))
        assert sys.modules["__main__"] is before

    def test_app_folder_is_importable(self, tmp_path):
        """The app's folder is first on sys.path, so sibling modules import."""
        (tmp_path / "helper_mod_for_loader_test.py").write_text("VALUE = 42\n")
        source = "import helper_mod_for_loader_test\nVALUE = helper_mod_for_loader_test.VALUE\n" + GOOD_APP
        _, module = load_app(write(tmp_path, source))
        assert module.VALUE == 42
        sys.modules.pop("helper_mod_for_loader_test", None)

    def test_missing_file(self, tmp_path):
        """A path that does not exist raises AppImportError naming it."""
        missing = tmp_path / "nope.py"
        with pytest.raises(AppImportError, match="nope.py") as info:
            load_app(missing)
        assert info.value.path == str(missing)
        assert info.value.lineno is None

    def test_syntax_error_reports_the_line(self, tmp_path):
        """A syntax error raises AppImportError with the file and line number."""
        path = write(tmp_path, "x = 1\n\ndef broken(:\n    pass\n")
        with pytest.raises(AppImportError) as info:
            load_app(path)
        assert info.value.lineno == 3
        assert f"{path.resolve()}:3" in str(info.value)
        assert info.value.path == str(path.resolve())

    def test_exception_at_import_reports_the_users_line(self, tmp_path):
        """An exception while executing the file reports the line of the file that raised it."""
        path = write(tmp_path, "import os\n\n\nraise RuntimeError('bad config')\n")
        with pytest.raises(AppImportError, match="bad config") as info:
            load_app(path)
        assert info.value.lineno == 4
        assert "RuntimeError" in str(info.value)

    def test_exception_inside_sdk_reports_the_users_line(self, tmp_path):
        """An error raised inside the SDK (a set attribute) points at the user's assignment line."""
        source = """\
            from lightning_ctl.sdk import LightningApp, LightningFlow


            class Root(LightningFlow):
                def __init__(self):
                    super().__init__()
                    self.tags = {"a"}

                def run(self):
                    pass


            app = LightningApp(Root())
            """
        path = write(tmp_path, source)
        with pytest.raises(AppImportError, match="StateNotSerializableError") as info:
            load_app(path)
        assert info.value.lineno == 7
        assert "self.tags" in str(info.value)

    def test_loader_frames_are_not_in_the_message(self, tmp_path):
        """The traceback in the message starts at the user's file, not at the loader."""
        path = write(tmp_path, "def f():\n    raise KeyError('k')\n\nf()\n")
        with pytest.raises(AppImportError) as info:
            load_app(path)
        assert "_loader.py" not in str(info.value)
        assert str(path.resolve()) in str(info.value)

    def test_no_app(self, tmp_path):
        """A file without a LightningApp raises AppImportError."""
        with pytest.raises(AppImportError, match="no LightningApp"):
            load_app(write(tmp_path, "x = 1\n"))

    def test_two_apps(self, tmp_path):
        """A file with two LightningApp instances raises AppImportError."""
        source = GOOD_APP + "other = LightningApp(Root())\n"
        with pytest.raises(AppImportError, match="2 LightningApp"):
            load_app(write(tmp_path, source))

    def test_same_app_under_two_names_counts_once(self, tmp_path):
        """Two names bound to the same app object are one app."""
        app, _ = load_app(write(tmp_path, GOOD_APP + "alias = app\n"))
        assert isinstance(app, LightningApp)


class Failing(LightningWork):
    def __init__(self) -> None:
        super().__init__(start_with_flow=False)

    def run(self) -> None:
        self.user_helper()

    def user_helper(self) -> None:
        raise ValueError("from user code")


class TestUserTraceback:
    def test_drops_leading_sdk_frames(self):
        """Frames of the SDK at the start of the traceback are left out; the user's frames stay."""
        try:
            Failing().run()
        except ValueError as exc:
            error = exc
        # Start the traceback at the SDK's run wrapper, as it is when the runner calls the work.
        error = error.with_traceback(error.__traceback__.tb_next)
        assert error.__traceback__.tb_frame.f_code.co_filename.endswith(str(Path("sdk", "_work.py")))
        text = user_traceback(error)
        assert "_work.py" not in text and "_calls.py" not in text
        assert "user_helper" in text
        assert "ValueError: from user code" in text

    def test_keeps_everything_when_no_sdk_frame_leads(self):
        """A traceback that starts in user code is kept whole."""
        try:
            raise KeyError("x")
        except KeyError as exc:
            text = user_traceback(exc)
        assert "test_keeps_everything_when_no_sdk_frame_leads" in text

    def test_drops_trailing_sdk_frames(self):
        """When an SDK check raises for the user, the SDK frames after the user's line are left out."""

        class Bad(LightningWork):
            def __init__(self) -> None:
                super().__init__(start_with_flow=False)
                self.tags = []

            def run(self) -> None:
                pass

        work = Bad()
        try:
            work.tags = {"a"}
        except AttributeError as exc:
            text = user_traceback(exc)
        assert "_work.py" not in text and "_component.py" not in text
        assert "work.tags = " in text
        assert "StateNotSerializableError" in text

    def test_an_error_with_no_user_frame_is_its_message_alone(self):
        """Raised by our own code after the user's returned: no frame of ours is shown, only the error."""

        class Tagged(LightningWork):
            def __init__(self) -> None:
                super().__init__(start_with_flow=False)
                self.tags = []

            def run(self) -> None:
                pass

        work = Tagged()
        try:
            work.tags = {"a"}  # raised inside the SDK, called from here (skipped like our runner)
        except AttributeError as exc:
            text = user_traceback(exc, skip_dirs=(str(Path(__file__).parent),))
        assert "Traceback" not in text and "File " not in text
        assert text.startswith("lightning_ctl.sdk.errors.StateNotSerializableError")

    def test_skip_dirs_drops_more_frames(self, tmp_path):
        """Frames in skip_dirs before the first user frame are dropped like the SDK's."""
        user_file = tmp_path / "user_code.py"
        user_file.write_text("def explode():\n    raise ValueError('from user file')\n")
        namespace: dict = {}
        exec(compile(user_file.read_text(), str(user_file), "exec"), namespace)

        class CallsUserCode(LightningWork):
            def __init__(self) -> None:
                super().__init__(start_with_flow=False)

            def run(self) -> None:
                namespace["explode"]()

        try:
            CallsUserCode().run()
        except ValueError as exc:
            text = user_traceback(exc, skip_dirs=(str(Path(__file__).parent),))
        assert text.startswith("Traceback (most recent call last):")
        assert "test_skip_dirs_drops_more_frames" not in text and "_work.py" not in text
        assert str(user_file) in text
        assert "ValueError: from user file" in text
