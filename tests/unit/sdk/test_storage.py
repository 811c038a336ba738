"""Path, Payload and Drive in the SDK: their semantics, and how they live in components' state and in calls."""

from __future__ import annotations

import json
import pickle
from pathlib import Path as PlainPath

import pytest

from lightning_ctl.sdk import Drive, LightningApp, LightningFlow, LightningWork, Path, Payload
from lightning_ctl.sdk._call_values import decode_arguments
from lightning_ctl.sdk._drive import drive_children, normalize_drive_path
from lightning_ctl.sdk._runtime import Runtime, set_runtime
from lightning_ctl.sdk._storage_values import decode_value, received_value


class Maker(LightningWork):
    def __init__(self, drive: Drive | None = None) -> None:
        super().__init__()
        self.data = Path("out/data.txt")
        self.model = "lit://model.pt"
        self.result = None
        self.drive = drive

    def run(self) -> None:
        self.result = Payload({"answer": 42})


class Root(LightningFlow):
    def __init__(self, drive: Drive | None = None) -> None:
        super().__init__()
        self.maker = Maker(drive)
        self.other = Maker(drive)

    def run(self) -> None:
        pass


@pytest.fixture
def app() -> LightningApp:
    return LightningApp(Root(Drive("lit://shared")))


@pytest.fixture
def flow_process():
    """A runtime is installed (as in the control plane), but no storage: transfers must refuse."""
    set_runtime(Runtime())
    try:
        yield
    finally:
        set_runtime(None)


class TestPath:
    def test_lit_paths_are_relative_to_the_storage_root(self, monkeypatch):
        """lit://x is <STORAGE_ROOT_DIR or .storage>/x, relative so it names the same place in every work."""
        assert str(Path("lit://a/b.txt")) == ".storage/a/b.txt"
        monkeypatch.setenv("STORAGE_ROOT_DIR", "/data")
        assert str(Path("lit://x")) == "/data/x"

    def test_assigning_to_a_work_makes_it_the_origin_and_records_paths(self, app):
        """The work holding a Path is its origin and consumer; _paths has the former framework's four keys."""
        maker = app.root.maker
        assert (maker.data.origin_name, maker.data.consumer_name) == ("root.maker", "root.maker")
        assert isinstance(maker.model, Path) and maker.model.origin_name == "root.maker"
        assert maker._paths["data"] == {"path": "out/data.txt", "origin_name": "root.maker",
                                        "consumer_name": "root.maker", "metadata": {}}

    def test_derived_paths_keep_origin_and_consumer(self, app):
        """/, parent, with_name, relative_to, joinpath keep who has the file."""
        data = app.root.maker.data
        derived = [data / "x", data.parent, data.with_name("y"), data.relative_to("out"), data.joinpath("z"),
                   data.with_suffix(".csv"), Path(data, "w")]
        assert all(isinstance(p, Path) and p.origin_name == "root.maker" for p in derived), derived

    def test_paths_of_different_works_cannot_be_joined(self, app):
        """A Path made of Paths from two works is an error (whose machine would have the file?)."""
        with pytest.raises(TypeError, match="different works"):
            Path(app.root.maker.data, app.root.other.data.with_name("q"))

    def test_state_json_is_tagged_and_decodes_back(self, app):
        """In the state a Path is its dict tagged __path__, and becomes a Path again wherever it arrives."""
        value = app.root.maker.state["vars"]["data"]
        assert value["type"] == "__path__"
        back = decode_value(json.loads(json.dumps(value)))
        assert isinstance(back, Path) and str(back) == "out/data.txt" and back.origin_name == "root.maker"

    def test_pickles_with_its_origin(self, app):
        """A pickled Path keeps its origin (e.g. inside a Payload's value)."""
        back = pickle.loads(pickle.dumps(app.root.maker.data))
        assert isinstance(back, Path) and back.origin_name == "root.maker"

    def test_a_path_passed_to_another_work_keeps_its_origin(self, app):
        """Assigning the maker's Path to another work makes that work the consumer, not the origin."""
        app.root.other.data = app.root.maker.data
        assert (app.root.other.data.origin_name, app.root.other.data.consumer_name) == ("root.maker", "root.other")
        assert app.root.maker.data.consumer_name == "root.maker", "the maker's own Path was changed"

    def test_a_path_attribute_turned_into_a_str_leaves_paths(self, app):
        """Path -> str is allowed and removes the attribute from _paths."""
        app.root.maker.data = "plain"
        assert "data" not in app.root.maker._paths

    def test_get_and_exists_remote_refuse_in_the_flow(self, app, flow_process):
        """In the flow's process, get() and exists_remote() raise RuntimeError saying to call them in a work."""
        for call in (app.root.maker.data.get, app.root.maker.data.exists_remote):
            with pytest.raises(RuntimeError, match="LightningWork's run"):
                call()

    def test_get_without_origin_says_to_attach_it(self, tmp_path, monkeypatch):
        """A Path no work holds cannot be got: the error says to assign it to a work or pass it to run()."""
        monkeypatch.chdir(tmp_path)
        with pytest.raises(RuntimeError, match="not attached to a work"):
            Path("x").get()

    def test_inline_get_finds_the_file_already_here(self, app, tmp_path, monkeypatch):
        """Without an app around it every work shares this process's files: get() of an existing file is a no-op
        (and overwrite=False still refuses to clobber)."""
        monkeypatch.chdir(tmp_path)
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "data.txt").write_text("x")
        with pytest.raises(FileExistsError):
            app.root.maker.data.get()
        app.root.maker.data.get(overwrite=True)
        assert app.root.maker.data.exists()


class TestPayload:
    def test_a_payload_cannot_be_set_in_init(self):
        """A Payload assigned in a work's __init__ is an AttributeError saying to assign it in run()."""

        class Eager(LightningWork):
            def __init__(self) -> None:
                super().__init__()
                self.result = Payload(1)

            def run(self) -> None:
                pass

        with pytest.raises(AttributeError, match="run"):
            Eager()

    def test_a_payload_cannot_be_a_flow_attribute(self):
        """Flows never hold Payload values."""

        class Holder(LightningFlow):
            def __init__(self) -> None:
                super().__init__()
                self.result = None

            def run(self) -> None:
                pass

        with pytest.raises(AttributeError, match="only be an attribute of a work"):
            Holder().result = Payload(1)

    def test_in_the_state_it_has_no_value(self, app):
        """Set in run(), the Payload is named after its attribute; its state has metadata, never the value."""
        maker = app.root.maker
        maker.run()
        state = maker.state["vars"]["result"]
        assert state == {"type": "__payload__", "name": "result", "origin_name": "root.maker",
                         "consumer_name": "root.maker", "metadata": {}}
        back = decode_value(state)
        assert isinstance(back, Payload) and back.value is None and back.name == "result"


class TestDrive:
    @pytest.mark.parametrize(("drive_id", "message"), [("s3://bucket", "S3"), ("gs://x", "must start"),
                                                       ("lit://", "needs a name"), ("lit://a/b", "'/'")])
    def test_bad_ids_are_refused(self, drive_id, message):
        """s3:// ids, other protocols, empty names and names with / are refused with a message saying why."""
        with pytest.raises(ValueError, match=message):
            Drive(drive_id)

    def test_each_component_gets_its_own_stamped_copy(self, app):
        """A Drive handed to two works is copied and stamped with each one's name."""
        assert app.root.maker.drive.component_name == "root.maker"
        assert app.root.other.drive.component_name == "root.other"
        assert app.root.maker.drive is not app.root.other.drive

    def test_state_round_trip_without_checking_a_foreign_root_folder(self):
        """from_dict does not check root_folder (it may be another machine's); the state shape is kept."""
        state = {"type": "__drive__", "id": "d", "protocol": "lit://", "allow_duplicates": True,
                 "component_name": "root.w", "root_folder": "/no/such/folder"}
        drive = decode_value(state)
        assert isinstance(drive, Drive) and drive.to_dict() == state

    def test_methods_refuse_in_the_flow(self, app, flow_process):
        """put/list/get/delete raise RuntimeError in the flow's process."""
        drive = app.root.maker.drive
        for call in (lambda: drive.put("x"), drive.list, lambda: drive.get("x"), lambda: drive.delete("x")):
            with pytest.raises(RuntimeError, match="LightningWork's run"):
                call()

    @pytest.mark.parametrize("path", ["/etc/passwd", "../up", "a/../../b"])
    def test_paths_cannot_leave_the_drive(self, path):
        """Absolute paths and paths climbing out with .. are refused."""
        with pytest.raises(ValueError):
            normalize_drive_path(path)

    def test_children_listing(self):
        """list() shows what is directly under a folder, as component-relative paths (a file lists itself)."""
        paths = ["a.txt", "folder/one.txt", "folder/sub/two.txt"]
        assert drive_children(paths, ".") == ["a.txt", "folder"]
        assert drive_children(paths, "folder") == ["folder/one.txt", "folder/sub"]
        assert drive_children(paths, "a.txt") == ["a.txt"]


class TestArguments:
    def test_tagged_values_in_arguments_become_objects_at_any_depth(self, app):
        """Call arguments arrive as JSON: tagged Paths inside lists and dicts become Paths again."""
        encoded = json.loads(json.dumps([app.root.maker.data, {"k": [app.root.maker.data]}, 3],
                                        default=lambda v: v.__json__()))
        decoded = decode_arguments(encoded)
        assert isinstance(decoded[0], Path) and isinstance(decoded[1]["k"][0], Path) and decoded[2] == 3

    def test_a_received_path_gets_the_receiving_work_as_consumer(self, app):
        """A Path the flow sends to a work's attribute keeps its origin and gets that work as consumer."""
        received = received_value(app.root.other, app.root.maker.data.__json__())
        assert (received.origin_name, received.consumer_name) == ("root.maker", "root.other")

    def test_plain_dicts_are_left_alone(self):
        """Only tagged dicts are decoded."""
        value = {"path": "x", "origin_name": None, "consumer_name": None, "metadata": {}}
        assert decode_value(value) is value


def test_paths_work_with_plain_pathlib(tmp_path):
    """A Path is a pathlib.Path: open(), read_text and friends work on it."""
    (tmp_path / "f.txt").write_text("hi")
    path = Path(tmp_path) / "f.txt"
    assert isinstance(path, PlainPath) and path.read_text() == "hi" and open(path).read() == "hi"
