"""Tests for sdk._compat: the former framework's names (lightning_app, lightning.app, lightning) give the SDK.

Every check runs in a fresh interpreter, so that ``sys.modules`` and ``sys.meta_path`` start clean: the
snippet installs the finder itself, asserts, and prints what the test compares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

PRELUDE = """\
import importlib, json, sys
import lightning_ctl.sdk._compat, lightning_ctl.sdk.errors, lightning_ctl.sdk.testing
from lightning_ctl import sdk
sdk._compat.install()
"""

FAKE_PYTORCH_LIGHTNING = """\
__version__ = "2.9.0"


class Trainer:
    def __init__(self, max_epochs=1):
        self.max_epochs = max_epochs

    def fit(self):
        return f"fit for {self.max_epochs} epochs"
"""


def run_python(code: str, *, path: tuple[Path, ...] = (), install: bool = True) -> str:
    """Run ``code`` (after the prelude that installs the finder) in a fresh interpreter; its stdout.

    ``path`` is put on PYTHONPATH, as a real ``lightning`` installed in site-packages would be importable.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*(str(p) for p in path), str(REPO)])}
    source = (PRELUDE if install else "") + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-c", source], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def raised(code: str, *, path: tuple[Path, ...] = ()) -> dict[str, str]:
    """Run ``code`` expecting it to raise; the exception's type name and message."""
    out = run_python(
        f"""
        try:
        {textwrap.indent(textwrap.dedent(code), "    ")}
        except BaseException as exc:
            print(json.dumps({{"type": type(exc).__name__, "message": str(exc)}}))
        else:
            print(json.dumps({{"type": None, "message": ""}}))
        """,
        path=path,
    )
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def fake_lightning(tmp_path: Path) -> Path:
    """A folder holding a fake real ``lightning`` package (Trainer, __version__, a ``pytorch`` submodule)."""
    package = tmp_path / "site" / "lightning"
    (package / "pytorch").mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_PYTORCH_LIGHTNING)
    (package / "pytorch" / "__init__.py").write_text("SEED = 42\n")
    return tmp_path / "site"


class TestAppImports:
    def test_lightning_app_gives_the_sdk_classes(self):
        """`from lightning_app import ...` gives the very SDK classes, not subclasses."""
        run_python("""
            import lightning_app
            from lightning_app import BuildConfig, CloudCompute, LightningApp, LightningFlow, LightningWork
            assert lightning_app.LightningFlow is sdk.LightningFlow
            assert (LightningApp, LightningFlow, LightningWork) == (sdk.LightningApp, sdk.LightningFlow,
                                                                    sdk.LightningWork)
            assert (CloudCompute, BuildConfig) == (sdk.CloudCompute, sdk.BuildConfig)
        """)

    def test_lightning_dot_app_gives_the_sdk_classes(self):
        """`from lightning.app import ...` and its submodules give the SDK's objects too."""
        run_python("""
            from lightning.app import LightningApp, LightningFlow, LightningWork, CloudCompute
            from lightning.app.structures import Dict, List
            from lightning.app.utilities.app_helpers import pretty_state
            assert LightningApp is sdk.LightningApp and LightningWork is sdk.LightningWork
            assert (Dict, List, pretty_state) == (sdk.Dict, sdk.List, sdk.pretty_state)
        """)

    def test_import_lightning_as_L_without_pytorch_lightning(self):
        """`import lightning as L` gives L.LightningApp / L.LightningWork / L.CloudCompute and L.app."""
        run_python("""
            import lightning as L
            assert L.LightningApp is sdk.LightningApp and L.LightningFlow is sdk.LightningFlow
            assert L.LightningWork is sdk.LightningWork and L.CloudCompute is sdk.CloudCompute
            assert L.BuildConfig is sdk.BuildConfig
            assert L.app is sys.modules["lightning.app"] and L.app.LightningWork is sdk.LightningWork
        """)

    def test_helper_modules_resolve(self):
        """structures, core, app_helpers, packaging and testing.helpers hold the SDK's objects."""
        run_python("""
            from lightning_app.structures import Dict, List
            from lightning_app.core.app import LightningApp
            from lightning_app.core.flow import LightningFlow
            from lightning_app.core.work import LightningWork
            from lightning_app.utilities.app_helpers import pretty_state, is_overridden, _LightningAppRef
            from lightning_app.utilities.packaging.cloud_compute import CloudCompute
            from lightning_app.utilities.packaging.build_config import BuildConfig
            from lightning_app.testing.helpers import EmptyFlow, EmptyWork
            from lightning_app.testing import EmptyWork as EmptyWork2
            assert (Dict, List) == (sdk.Dict, sdk.List)
            assert (LightningApp, LightningFlow, LightningWork) == (sdk.LightningApp, sdk.LightningFlow,
                                                                    sdk.LightningWork)
            assert (CloudCompute, BuildConfig) == (sdk.CloudCompute, sdk.BuildConfig)
            assert pretty_state is sdk.pretty_state
            assert EmptyFlow is sdk.testing.EmptyFlow and EmptyWork is EmptyWork2 is sdk.testing.EmptyWork
            assert _LightningAppRef.get_current() is None
        """)

    def test_status_enums_and_exceptions(self):
        """utilities.enum, .app_status and .exceptions hold the SDK's enums, status records and errors."""
        run_python("""
            from lightning_app.utilities.enum import (AppStage, CacheCallsKeys, WorkFailureReasons,
                                                      WorkStageStatus, WorkStopReasons, make_status)
            from lightning_app.utilities.app_status import AppStatus, WorkStatus
            from lightning_app.utilities.exceptions import (CacheMissException, ExitAppException,
                LightningFlowException, LightningWorkException, MisconfigurationException)
            assert WorkStageStatus is sdk.WorkStageStatus and WorkStageStatus.SUCCEEDED == "succeeded"
            assert (AppStage, CacheCallsKeys, WorkFailureReasons, WorkStopReasons, make_status) == (
                sdk.AppStage, sdk.CacheCallsKeys, sdk.WorkFailureReasons, sdk.WorkStopReasons,
                sdk.make_status)
            assert (AppStatus, WorkStatus) == (sdk.AppStatus, sdk.WorkStatus)
            assert make_status(WorkStageStatus.RUNNING)["stage"] == "running"
            assert (CacheMissException, ExitAppException, LightningFlowException, LightningWorkException,
                    MisconfigurationException) == tuple(getattr(sdk.errors, name) for name in (
                "CacheMissException", "ExitAppException", "LightningFlowException", "LightningWorkException",
                "MisconfigurationException"))

            class Root(sdk.LightningFlow):
                def run(self):
                    self.stop("done")

            try:
                Root().run()
            except ExitAppException:
                pass
            else:
                raise AssertionError("flow.stop() should raise lightning_app's ExitAppException")
        """)

    def test_both_roots_serve_the_same_tree(self):
        """Every module served under lightning_app is served under lightning.app with the same exports."""
        out = run_python("""
            from lightning_ctl.sdk._compat import _MODULES
            for rel in _MODULES:
                a = importlib.import_module("lightning_app" + ("." + rel if rel else ""))
                b = importlib.import_module("lightning.app" + ("." + rel if rel else ""))
                assert a.__all__ == b.__all__, rel
                assert all(getattr(a, name) is getattr(b, name) for name in a.__all__), rel
            print(len(_MODULES))
        """)
        assert int(out) >= 15

    def test_child_modules_are_attributes_of_their_parent(self):
        """After `import lightning_app`, lightning_app.structures.Dict and the like resolve at once."""
        run_python("""
            import lightning_app
            import lightning as L
            assert lightning_app.structures.Dict is sdk.Dict
            assert lightning_app.utilities.app_helpers.pretty_state is sdk.pretty_state
            assert L.app.structures.List is sdk.List
            assert L.app.utilities.enum.WorkStageStatus is sdk.WorkStageStatus
        """)

    def test_components_built_from_compat_classes_are_sdk_components(self):
        """An app built only from compat names is an sdk.LightningApp whose works the runtime recognises."""
        out = run_python("""
            import lightning as L
            from lightning_app.structures import Dict
            from lightning_app.testing.helpers import EmptyWork

            class Root(L.LightningFlow):
                def __init__(self):
                    super().__init__()
                    self.pool = Dict(a=EmptyWork(), b=EmptyWork(cloud_compute=L.CloudCompute("cpu")))

                def run(self):
                    self.stop()

            app = L.LightningApp(Root())
            assert isinstance(app, sdk.LightningApp)
            print(json.dumps(sorted(w.name for w in app.works)))
        """)
        assert json.loads(out) == ["root.pool.a", "root.pool.b"]

    def test_is_overridden(self):
        """is_overridden tells a subclass's own method from the base's, through the SDK's run() wrapper."""
        out = run_python("""
            from lightning_app.utilities.app_helpers import is_overridden
            from lightning_app import LightningFlow, LightningWork

            class Work(LightningWork):
                def run(self):
                    pass

            class Flow(LightningFlow):
                def run(self):
                    pass

                def configure_layout(self):
                    return []

            work, flow = Work(), Flow()
            print(json.dumps([is_overridden("run", work), is_overridden("on_start", work),
                              is_overridden("configure_layout", flow), is_overridden("configure_api", flow),
                              is_overridden("run", None)]))
            try:
                is_overridden("run", object())
            except ValueError as exc:
                assert "parent" in str(exc)
            else:
                raise AssertionError("is_overridden on a non-component without parent= should raise")
        """)
        assert json.loads(out) == [True, False, True, False, False]


class TestStorage:
    @pytest.mark.parametrize(
        ("statement", "name"),
        [
            ("from lightning_app.storage import Path", "Path"),
            ("from lightning_app.storage import Payload", "Payload"),
            ("from lightning.app.storage import Drive", "Drive"),
            ("from lightning.app.storage.payload import Payload", "Payload"),
            ("from lightning_app.storage.path import Path", "Path"),
            ("from lightning.app.storage.drive import Drive", "Drive"),
        ],
    )
    def test_storage_classes_are_the_sdks_own(self, statement, name):
        """lightning_app.storage and lightning.app.storage serve the SDK's Path, Payload and Drive themselves."""
        out = run_python(f"""
            {statement}
            import lightning_ctl.sdk
            print({name} is getattr(lightning_ctl.sdk, {name!r}))
        """)
        assert out.strip() == "True"

    @pytest.mark.parametrize(
        "statement",
        ["from lightning_app.storage import Mount", "import lightning.app.storage.mount",
         "from lightning_app.storage import FileSystem"],
    )
    def test_mount_and_filesystem_are_refused_saying_what_to_use(self, statement):
        """Mount (cloud-only) and FileSystem are refused with an ImportError naming what to use instead."""
        error = raised(statement)
        assert error["type"] in ("ImportError", "AttributeError")
        assert "is not supported by lightning-ctl" in error["message"]
        assert "--storage" in error["message"] or "ls/cp" in error["message"]


class TestComponents:
    def test_the_former_component_paths_give_the_sdks_components(self):
        """MultiNode and its variants, the script works and the Tracer import from every former path, as the
        SDK's own classes."""
        out = run_python(
            """
            import lightning_ctl.sdk.components as ours
            from lightning.app.components import MultiNode, LightningTrainerMultiNode, PyTorchSpawnMultiNode
            from lightning.app.components import FabricMultiNode, TracerPythonScript, PopenPythonScript
            from lightning_app.components.multi_node import MultiNode as M2
            from lightning_app.components.multi_node.trainer import LightningTrainerMultiNode as T2
            from lightning_app.components.python import TracerPythonScript as S2
            from lightning_app.components.python.popen import PopenPythonScript as P2
            from lightning_app.components.training import LightningTrainerScript
            from lightning_app.utilities.tracer import Tracer
            same = [MultiNode is ours.MultiNode is M2, LightningTrainerMultiNode is T2 is ours.LightningTrainerMultiNode,
                    PyTorchSpawnMultiNode is ours.PyTorchSpawnMultiNode, FabricMultiNode is ours.FabricMultiNode,
                    TracerPythonScript is S2 is ours.TracerPythonScript, PopenPythonScript is P2,
                    LightningTrainerScript is ours.LightningTrainerScript, Tracer is ours.Tracer]
            import sys
            print(all(same), "torch" in sys.modules)
            """
        )
        assert out.split() == ["True", "False"], "every path gives the SDK's class, and none imports torch"

    def test_an_unknown_component_names_the_ones_there_are(self):
        """from lightning_app.components import Nope lists MultiNode among what is provided."""
        error = raised("from lightning_app.components import Nope")
        assert "MultiNode" in error["message"] and "TracerPythonScript" in error["message"]


class TestUnsupported:
    @pytest.mark.parametrize(
        ("statement", "named"),
        [
            ("from lightning_app import LightningPlugin", "plugins"),
            ("from lightning_app.frontend import PanelFrontend", "PanelFrontend"),
            ("from lightning_app.testing import LightningTestApp", "lightning-ctl run"),
            ("import lightning.app.components.database", "Database"),
        ],
    )
    def test_other_unsupported_parts_say_why(self, statement, named):
        """Plugins, frontends, the test-app helpers and the database component are refused with their reason."""
        error = raised(statement)
        assert error["type"] == "ImportError"
        assert "not supported by lightning-ctl" in error["message"] and named in error["message"]

    def test_an_unknown_module_names_what_is_provided(self):
        """An unknown lightning_app module fails with ModuleNotFoundError listing what the parent provides."""
        error = raised("import lightning_app.utilities.network")
        assert error["type"] == "ModuleNotFoundError"
        assert "lightning_app.utilities.network" in error["message"] and "app_helpers" in error["message"]

    def test_an_unknown_attribute_names_what_is_provided(self):
        """A missing attribute of a served module raises AttributeError listing the module's names."""
        error = raised("import lightning_app.utilities.enum as e; e.WorkPageStatus")
        assert error["type"] == "AttributeError"
        assert "WorkPageStatus" in error["message"] and "WorkStageStatus" in error["message"]


class TestPytorchLightning:
    def test_real_lightning_is_imported_and_grafted(self, fake_lightning):
        """With a real lightning installed, `import lightning as L` is that package: L.Trainer works, and
        L.LightningApp / lightning.app.LightningWork are the SDK's."""
        out = run_python(
            """
            import lightning as L
            import lightning.app
            from lightning.pytorch import SEED
            assert L.LightningApp is sdk.LightningApp and L.LightningWork is sdk.LightningWork
            assert lightning.app.LightningWork is sdk.LightningWork and L.CloudCompute is sdk.CloudCompute
            assert type(L.__spec__.loader).__name__ == "SourceFileLoader"
            assert L.__loader__ is L.__spec__.loader
            fit = L.Trainer(max_epochs=3).fit()
            print(json.dumps({"file": L.__file__, "version": L.__version__, "fit": fit, "seed": SEED}))
            """,
            path=(fake_lightning,),
        )
        result = json.loads(out)
        assert result["file"] == str(fake_lightning / "lightning" / "__init__.py")
        assert result == {**result, "version": "2.9.0", "fit": "fit for 3 epochs", "seed": 42}

    def test_names_the_real_package_defines_are_kept(self, fake_lightning):
        """A name the real lightning defines itself is never replaced by the compat layer."""
        (fake_lightning / "lightning" / "__init__.py").write_text(
            FAKE_PYTORCH_LIGHTNING + "\nCloudCompute = 'the real one'\n"
        )
        out = run_python(
            """
            import lightning as L
            print(json.dumps([L.CloudCompute, L.LightningWork is sdk.LightningWork]))
            """,
            path=(fake_lightning,),
        )
        assert json.loads(out) == ["the real one", True]

    def test_real_lightning_imported_before_install_is_grafted_by_install(self, fake_lightning):
        """A real lightning imported before install() runs gets lightning.app and the app classes then."""
        run_python(
            """
            import lightning as L
            assert "LightningWork" not in vars(L)
            import lightning_ctl.sdk._compat
            lightning_ctl.sdk._compat.install()
            from lightning.app import LightningWork
            assert L.LightningWork is LightningWork is lightning_ctl.sdk.LightningWork and L.Trainer
            """,
            path=(fake_lightning,),
            install=False,
        )

    def test_lightning_bundling_its_own_app_framework_fails_with_a_clear_error(self, fake_lightning):
        """An old lightning whose __init__ imports lightning.app.plugin fails naming it and the fix."""
        (fake_lightning / "lightning" / "__init__.py").write_text(
            FAKE_PYTORCH_LIGHTNING + "\nfrom lightning.app import plugin\n"
        )
        error = raised("import lightning", path=(fake_lightning,))
        assert error["type"] == "ImportError"
        assert "lightning.app.plugin is not supported" in error["message"]
        assert "no longer bundles the app framework" in error["message"]

    def test_without_pytorch_lightning_trainer_raises_a_clear_attribute_error(self):
        """Without a real lightning, lightning.Trainer raises AttributeError: PyTorch Lightning is missing."""
        error = raised("import lightning; lightning.Trainer")
        assert error["type"] == "AttributeError"
        assert "'Trainer'" in error["message"] and "PyTorch Lightning is not installed" in error["message"]

    def test_without_pytorch_lightning_from_import_trainer_says_why(self):
        """`from lightning import Trainer` says PyTorch Lightning is missing, not only "cannot import"."""
        error = raised("from lightning import Trainer")
        assert error["type"] == "ImportError"
        assert "PyTorch Lightning is not installed" in error["message"]

    def test_without_pytorch_lightning_probes_find_nothing(self):
        """Availability probes for PyTorch Lightning's modules still answer "absent" (find_spec: None)."""
        out = run_python("""
            import importlib.util
            print(json.dumps(importlib.util.find_spec("lightning.pytorch") is None))
        """)
        assert json.loads(out) is True


class TestInstall:
    def test_install_is_idempotent_and_keeps_the_finder_first(self):
        """install() twice leaves one finder, first on sys.meta_path, even after another went in front."""
        run_python("""
            from lightning_ctl.sdk._compat import _CompatFinder, install, uninstall
            install()
            sys.meta_path.insert(0, type("Other", (), {"find_spec": staticmethod(lambda *a: None)})())
            install()
            finders = [f for f in sys.meta_path if isinstance(f, _CompatFinder)]
            assert len(finders) == 1 and sys.meta_path[0] is finders[0]
            uninstall()
            assert not any(isinstance(f, _CompatFinder) for f in sys.meta_path)
        """)

    def test_takes_precedence_over_an_installed_lightning_app(self, tmp_path):
        """An installed (deprecated) lightning-app distribution is not imported: lightning_app is the SDK."""
        package = tmp_path / "lightning_app"
        package.mkdir()
        (package / "__init__.py").write_text("raise RuntimeError('the real lightning_app was imported')\n")
        run_python(
            """
            import lightning_app
            from lightning_app.core.work import LightningWork
            assert lightning_app.LightningApp is sdk.LightningApp and LightningWork is sdk.LightningWork
            """,
            path=(tmp_path,),
        )

    def test_load_app_installs_the_layer(self, tmp_path):
        """load_app() runs an app written with lightning_app imports without any prior install()."""
        app_file = tmp_path / "app.py"
        app_file.write_text(textwrap.dedent("""
            from lightning_app import LightningApp, LightningFlow
            from lightning_app.utilities.app_helpers import pretty_state

            class Root(LightningFlow):
                def __init__(self):
                    super().__init__()
                    self.greeting = "hello"

                def run(self):
                    self.stop()

            app = LightningApp(Root())
        """))
        out = run_python(
            f"""
            from lightning_ctl import sdk
            from lightning_ctl.sdk._loader import load_app
            app, _ = load_app({str(app_file)!r})
            assert isinstance(app, sdk.LightningApp)
            import json
            print(json.dumps(sdk.pretty_state(app.state)))
            """,
            install=False,
        )
        assert json.loads(out) == {"vars": {"greeting": "hello"}}

    def test_compat_imports_pull_in_no_grpc(self):
        """`import sdk` plus every compat module still loads no grpc, protobuf or structlog."""
        out = run_python("""
            from lightning_ctl.sdk._compat import _MODULES
            for rel in _MODULES:
                importlib.import_module("lightning_app" + ("." + rel if rel else ""))
                importlib.import_module("lightning.app" + ("." + rel if rel else ""))
            heavy = [m for m in sys.modules
                     if m.split(".")[0] in ("grpc", "structlog") or m.startswith("google.protobuf")]
            print(json.dumps(heavy))
        """)
        assert json.loads(out) == []

    def test_import_sdk_alone_installs_nothing(self):
        """Importing sdk does not change the import system: lightning_app is only served after install()."""
        out = run_python(
            """
            import json, sys, sdk
            print(json.dumps([type(f).__name__ for f in sys.meta_path]))
            """,
            install=False,
        )
        assert "_CompatFinder" not in json.loads(out)
