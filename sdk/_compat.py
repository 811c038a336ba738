"""The compatibility layer: apps written for ``lightning_app`` or ``lightning.app`` import the SDK unchanged.

:func:`install` puts an import finder at the front of ``sys.meta_path``. It serves:

- ``lightning_app`` and the former framework's common modules below it (``structures``, ``core``,
  ``utilities.*``, ``testing``; see ``_MODULES``), and the same tree under ``lightning.app``. Every name they
  export is the SDK's own object, never a subclass: the runtime recognises components by ``isinstance`` of the
  SDK classes.
- ``lightning``: when a real ``lightning`` (PyTorch Lightning) is installed, the real package is imported
  and only grafted onto: ``lightning.app`` and the app classes it does not define itself. Otherwise a small
  stand-in holding the app classes, whose other attributes raise an ``AttributeError`` saying PyTorch
  Lightning is not installed.

Parts of the former framework lightning-ctl does not have (Mount, client commands, plugins...) raise an
``ImportError`` naming what is missing, rather than importing as stubs that would fail later.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import inspect
import sys
import threading
import types
from typing import Any

from lightning_ctl.sdk import errors
from lightning_ctl.sdk._api import Delete, Get, HTTPException, Post, Put, _HttpMethod
from lightning_ctl.sdk._app import LightningApp
from lightning_ctl.sdk._app_server import app_server_host, app_server_port
from lightning_ctl.sdk._app_state import AppState
from lightning_ctl.sdk._build_config import BuildConfig
from lightning_ctl.sdk._cloud_compute import CloudCompute
from lightning_ctl.sdk._drive import Drive
from lightning_ctl.sdk._flow import LightningFlow
from lightning_ctl.sdk._frontend import Frontend, StaticWebFrontend, StreamlitFrontend
from lightning_ctl.sdk._path import Path
from lightning_ctl.sdk._payload import Payload
from lightning_ctl.sdk._pretty import pretty_state
from lightning_ctl.sdk._status import (
    AppStage,
    AppStatus,
    CacheCallsKeys,
    WorkFailureReasons,
    WorkStageStatus,
    WorkStatus,
    WorkStopReasons,
    make_status,
)
from lightning_ctl.sdk._structures import Dict, List
from lightning_ctl.sdk._work import LightningWork
from lightning_ctl.sdk.testing import EmptyFlow, EmptyWork

__all__ = ["install", "is_overridden", "uninstall"]

_APP_ROOTS = ("lightning_app", "lightning.app")
"""The two names the former framework was importable under; the same tree is served below each."""
_ORIGIN = "lightning-ctl compatibility layer (sdk._compat)"


def is_overridden(method_name: str, instance: object | None = None, parent: type | None = None) -> bool:
    """Whether ``instance`` overrides ``parent``'s ``method_name`` (from ``lightning_app...app_helpers``).

    Args:
        method_name: The method to look at, such as ``"configure_layout"``.
        instance: A flow or work; None gives False.
        parent: The class whose method counts as "not overridden"; defaults to LightningFlow or LightningWork,
            whichever ``instance`` is.

    Raises:
        ValueError: ``parent`` is not given and ``instance`` is neither a flow nor a work, or ``parent`` has
            no such method.
    """
    if instance is None:
        return False
    if parent is None:
        parent = next((base for base in (LightningFlow, LightningWork) if isinstance(instance, base)), None)
        if parent is None:
            raise ValueError(
                f"is_overridden({method_name!r}, ...): a {type(instance).__name__} is neither a "
                "LightningFlow nor a LightningWork; pass parent="
            )
    own = getattr(instance, method_name, None)
    if own is None:
        return False
    base = getattr(parent, method_name, None)
    if base is None:
        raise ValueError(f"is_overridden: {parent.__name__} has no method {method_name!r}")
    # The SDK wraps a work's run() with functools.wraps; unwrap both sides to compare the user's functions.
    own, base = (inspect.unwrap(getattr(method, "__func__", method)) for method in (own, base))
    return own is not base


class _LightningAppRef:
    """The former framework's holder of "the current app".

    lightning-ctl's LightningApp does not register itself here: ``get_current()`` returns the app passed to
    ``connect()``, or None.
    """

    _app_instance: LightningApp | None = None

    @classmethod
    def connect(cls, app: LightningApp) -> None:
        """Record ``app`` as the current app."""
        cls._app_instance = app

    @classmethod
    def get_current(cls) -> LightningApp | None:
        """The app recorded by ``connect()``, if any."""
        return cls._app_instance


_APP_CLASSES: dict[str, Any] = {
    "LightningApp": LightningApp,
    "LightningFlow": LightningFlow,
    "LightningWork": LightningWork,
    "BuildConfig": BuildConfig,
    "CloudCompute": CloudCompute,
}
_ENUMS: dict[str, Any] = {
    "WorkStageStatus": WorkStageStatus,
    "AppStage": AppStage,
    "WorkFailureReasons": WorkFailureReasons,
    "WorkStopReasons": WorkStopReasons,
    "CacheCallsKeys": CacheCallsKeys,
    "make_status": make_status,
}
_EXCEPTIONS: dict[str, Any] = {
    name: getattr(errors, name)
    for name in (
        "CacheMissException",
        "ExitAppException",
        "LightningFlowException",
        "LightningWorkException",
        "MisconfigurationException",
    )
}
_TESTING: dict[str, Any] = {"EmptyFlow": EmptyFlow, "EmptyWork": EmptyWork}
_API: dict[str, Any] = {"Get": Get, "Post": Post, "Put": Put, "Delete": Delete}
_FRONTENDS: dict[str, Any] = {
    "Frontend": Frontend, "StaticWebFrontend": StaticWebFrontend, "StreamlitFrontend": StreamlitFrontend,
}

_SERVING = ("PythonServer", "ServeGradio", "ServeStreamlit", "Category", "Image", "Number", "Text")
"""The works that serve, and PythonServer's input and output types."""

_COMPONENT_MODULES: dict[str, tuple[str, ...]] = {
    "components": ("MultiNode", "LightningTrainerMultiNode", "PyTorchSpawnMultiNode", "FabricMultiNode",
                   "TracerPythonScript", "PopenPythonScript", "Code", "LightningTrainerScript",
                   "PyTorchLightningScriptRunner", *_SERVING),
    "components.serve": _SERVING,
    "components.serve.python_server": _SERVING,
    "components.serve.gradio_server": _SERVING,
    "components.serve.streamlit": _SERVING,
    "components.multi_node": ("MultiNode", "LightningTrainerMultiNode", "PyTorchSpawnMultiNode", "FabricMultiNode"),
    "components.multi_node.base": ("MultiNode",),
    "components.multi_node.pytorch_spawn": ("PyTorchSpawnMultiNode",),
    "components.multi_node.trainer": ("LightningTrainerMultiNode",),
    "components.multi_node.fabric": ("FabricMultiNode",),
    "components.python": ("TracerPythonScript", "PopenPythonScript", "Code"),
    "components.python.tracer": ("TracerPythonScript", "Code"),
    "components.python.popen": ("PopenPythonScript",),
    "components.training": ("LightningTrainerScript", "PyTorchLightningScriptRunner"),
}
"""The former framework's component modules served (imported from ``sdk.components`` only when asked for)."""


def _components(names: tuple[str, ...]) -> dict[str, Any]:
    components = importlib.import_module("lightning_ctl.sdk.components")
    served = {}
    for name in names:
        try:
            served[name] = getattr(components, name)
        except ModuleNotFoundError:
            pass  # PythonServer's types need pydantic; PythonServer itself names the extra when an app builds one
    return served


_MODULES: dict[str, dict[str, Any]] = {
    "": _APP_CLASSES,
    "core": {k: _APP_CLASSES[k] for k in ("LightningApp", "LightningFlow", "LightningWork")},
    "core.app": {"LightningApp": LightningApp},
    "core.flow": {"LightningFlow": LightningFlow},
    "core.work": {"LightningWork": LightningWork},
    "structures": {"Dict": Dict, "List": List},
    "structures.dict": {"Dict": Dict},
    "structures.list": {"List": List},
    "utilities": {},
    "utilities.app_helpers": {
        "pretty_state": pretty_state,
        "is_overridden": is_overridden,
        "_LightningAppRef": _LightningAppRef,
    },
    "utilities.enum": _ENUMS,
    "utilities.app_status": {"WorkStatus": WorkStatus, "AppStatus": AppStatus},
    "utilities.exceptions": _EXCEPTIONS,
    "utilities.packaging": {},
    "utilities.packaging.cloud_compute": {"CloudCompute": CloudCompute},
    "utilities.packaging.build_config": {"BuildConfig": BuildConfig},
    "testing": _TESTING,
    "testing.helpers": _TESTING,
    "api": _API,
    "api.http_methods": {**_API, "_HttpMethod": _HttpMethod, "HTTPException": HTTPException},
    "frontend": _FRONTENDS,
    "frontend.frontend": {"Frontend": Frontend},
    "frontend.web": {"StaticWebFrontend": StaticWebFrontend},
    "frontend.stream_lit": {"StreamlitFrontend": StreamlitFrontend},
    "utilities.state": {"AppState": AppState},
    "core.constants": {},
    "storage": {"Path": Path, "Payload": Payload, "Drive": Drive},
    "storage.path": {"Path": Path},
    "storage.payload": {"Payload": Payload},
    "storage.drive": {"Drive": Drive},
    **{name: {} for name in _COMPONENT_MODULES},
    "utilities.tracer": {},
}
"""The modules served under each of ``_APP_ROOTS`` (relative name, "" for the root) and what each exports."""

_COMPUTED: dict[str, Any] = {
    "core.constants": lambda: {"APP_SERVER_HOST": app_server_host(), "APP_SERVER_PORT": app_server_port()},
    **{name: functools.partial(_components, names) for name, names in _COMPONENT_MODULES.items()},
    "utilities.tracer": functools.partial(_components, ("Tracer",)),
}
"""Served modules whose values come from the environment when they are imported (the app's HTTP server)."""

_NO_MOUNT = (
    "Mount was cloud-only; keep files in a Drive, or put the whole app store in a bucket with "
    "`lightning-ctl run --storage s3://bucket/prefix`"
)
_NO_FILESYSTEM = "lightning-ctl's store is reached through Path, Payload and Drive, and `lightning-ctl ls/cp`"
_UNSUPPORTED: dict[str, str] = {
    "storage.mount": _NO_MOUNT,
    "storage.Mount": _NO_MOUNT,
    "storage.FileSystem": _NO_FILESYSTEM,
    "storage.filesystem": _NO_FILESYSTEM,
    "storage.StorageOrchestrator": "the control plane moves files between works itself",
    "storage.orchestrator": "the control plane moves files between works itself",
    "frontend.panel": "lightning-ctl has no PanelFrontend (use StreamlitFrontend or StaticWebFrontend)",
    "frontend.just_py": "lightning-ctl has no JustPyFrontend (use StreamlitFrontend or StaticWebFrontend)",
    "frontend.PanelFrontend": "lightning-ctl has no PanelFrontend (use StreamlitFrontend or StaticWebFrontend)",
    "frontend.JustPyFrontend": "lightning-ctl has no JustPyFrontend (use StreamlitFrontend or StaticWebFrontend)",
    "utilities.frontend": "lightning-ctl has no AppInfo",
    "utilities.commands": "lightning-ctl has no app commands (ClientCommand)",
    "components.database": "lightning-ctl has no Database component (keep data in a Drive or your own database)",
    "plugin": "lightning-ctl has no plugins (LightningPlugin)",
    "LightningPlugin": "lightning-ctl has no plugins",
    "perf": "lightning-ctl has no forked-process debugger (lightning.app.perf.pdb)",
    "testing.LightningTestApp": "run the app with `lightning-ctl run` in a subprocess instead",
    "testing.application_testing": "run the app with `lightning-ctl run` in a subprocess instead",
    "testing.run_work_isolated": "call the work's run() directly: with no runtime it runs inline",
}
"""Parts of the former framework (modules, or names in a served module) that are refused with a reason."""


def _unsupported_message(fullname: str, reason: str) -> str:
    message = f"{fullname} is not supported by lightning-ctl: {reason}"
    if _GraftingLoader.executing:
        message += (
            ". The installed `lightning` package imports its own bundled lightning.app when it starts, "
            "and lightning-ctl serves lightning.app itself: use a `lightning` release that no longer "
            "bundles the app framework"
        )
    return message


def _split(fullname: str) -> tuple[str, str] | None:
    """``(root, relative name)`` when ``fullname`` is under one of the app roots, else None."""
    for root in _APP_ROOTS:
        if fullname == root:
            return root, ""
        if fullname.startswith(root + "."):
            return root, fullname[len(root) + 1 :]
    return None


def _provided(fullname: str, rel: str) -> str:
    """What the served module ``fullname`` (relative name ``rel``) has: its names, then its child modules."""
    names = sorted({*(k for k in _MODULES[rel] if not k.startswith("_")), *_COMPONENT_MODULES.get(rel, ())})
    names += sorted(k.rpartition(".")[2] for k in _MODULES if k and k.rpartition(".")[0] == rel)
    return f"lightning-ctl's compatibility layer provides {', '.join(names) or 'nothing else'} in {fullname}"


class _AppModuleLoader(importlib.abc.Loader):
    """Fills a served module with the SDK objects ``_MODULES`` lists for it."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        _, rel = _split(module.__name__) or ("", "")
        exports = {**_MODULES[rel], **(_COMPUTED[rel]() if rel in _COMPUTED else {})}
        module.__doc__ = f"lightning-ctl's stand-in for the former framework's {module.__name__}."
        module.__dict__.update(exports)
        module.__all__ = sorted(k for k in exports if not k.startswith("_"))  # type: ignore[attr-defined]
        module.__getattr__ = _module_getattr(module.__name__, rel)  # type: ignore[method-assign]


def _module_getattr(fullname: str, rel: str) -> Any:
    """A module ``__getattr__`` (PEP 562): child modules import lazily, refused names say why."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(f"module {fullname!r} has no attribute {name!r}")
        child = f"{rel}.{name}" if rel else name
        if child in _MODULES:
            return importlib.import_module(f"{fullname}.{name}")
        if child in _UNSUPPORTED:
            raise AttributeError(_unsupported_message(f"{fullname}.{name}", _UNSUPPORTED[child]))
        raise AttributeError(f"module {fullname!r} has no attribute {name!r}: {_provided(fullname, rel)}")

    return __getattr__


class _StandInLightningLoader(importlib.abc.Loader):
    """Builds the ``lightning`` module served when no real (PyTorch Lightning) package is installed."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        module.__doc__ = "lightning-ctl's stand-in for `lightning`: the app API only (no PyTorch Lightning)."
        module.__dict__.update(_APP_CLASSES)
        module.__all__ = [*sorted(_APP_CLASSES), "app"]  # type: ignore[attr-defined]
        module.__getattr__ = _stand_in_getattr  # type: ignore[method-assign]
        importlib.import_module("lightning.app")


_PYTORCH_LIGHTNING_NAMES = frozenset(
    {"Callback", "Fabric", "LightningDataModule", "LightningModule", "Trainer", "seed_everything"}
)
"""The top-level names of PyTorch Lightning that are not modules."""


def _stand_in_message(name: str, what: str = "module 'lightning' has no attribute") -> str:
    return (
        f"{what} {name!r}: PyTorch Lightning is not installed. lightning-ctl serves `lightning` only for "
        f"apps ({', '.join(sorted(_APP_CLASSES))} and lightning.app); install the `lightning` package to "
        f"use lightning.{name}"
    )


def _stand_in_getattr(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(f"module 'lightning' has no attribute {name!r}")
    raise AttributeError(_stand_in_message(name))


class _GraftingLoader(importlib.abc.Loader):
    """Runs a real ``lightning``'s own loader, then adds ``lightning.app`` and the app classes it lacks."""

    executing = False
    """True while a real ``lightning/__init__`` runs (for error messages)."""

    def __init__(self, real: importlib.abc.Loader) -> None:
        self.real = real

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.real.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        # The real package sees its own loader, as if we were not there.
        module.__loader__ = self.real
        if module.__spec__ is not None:
            module.__spec__.loader = self.real
        previous, _GraftingLoader.executing = _GraftingLoader.executing, True
        try:
            self.real.exec_module(module)
        finally:
            _GraftingLoader.executing = previous
        _graft(module)


def _graft(module: types.ModuleType) -> None:
    """Add ``lightning.app`` and the app classes a real ``lightning`` module does not define itself."""
    importlib.import_module("lightning.app")  # the import system also sets module.app
    for name, value in _APP_CLASSES.items():
        if name not in module.__dict__:
            setattr(module, name, value)


class _CompatFinder(importlib.abc.MetaPathFinder):
    """Serves ``lightning_app``, ``lightning.app`` and ``lightning`` (see the module docstring)."""

    def __init__(self) -> None:
        self._searching = threading.local()

    def find_spec(
        self, fullname: str, path: Any = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """The spec of a served module, None for names this finder leaves to the others.

        Raises:
            ImportError: a part of the former framework lightning-ctl does not support.
            ModuleNotFoundError: a module under ``lightning_app`` or ``lightning.app`` that isn't served.
        """
        top = fullname.partition(".")[0]
        if top not in ("lightning_app", "lightning"):
            return None  # the hot path: every import in the process asks this finder first
        if fullname == "lightning":
            return self._lightning_spec(path, target)
        where = _split(fullname)
        if where is not None:
            rel = where[1]
            if rel in _MODULES:
                return importlib.machinery.ModuleSpec(fullname, _APP_LOADER, origin=_ORIGIN, is_package=True)
            if rel in _UNSUPPORTED:
                raise ImportError(_unsupported_message(fullname, _UNSUPPORTED[rel]), name=fullname)
            parent_name = fullname.rpartition(".")[0]
            parent_rel = rel.rpartition(".")[0]
            if parent_rel not in _MODULES:  # only when asked directly; the import system stops at the parent
                parent_name, parent_rel = where[0], ""
            # No name= on this error: for `from lightning_app import x` the import system would swallow the
            # message and say only "cannot import name 'x'".
            raise ModuleNotFoundError(
                f"No module or name {fullname!r} in lightning-ctl: {_provided(parent_name, parent_rel)}"
            )
        name = fullname[len("lightning.") :]
        parent_loader = getattr(sys.modules.get("lightning"), "__loader__", None)
        if name in _PYTORCH_LIGHTNING_NAMES and isinstance(parent_loader, _StandInLightningLoader):
            # `from lightning import Trainer` asks for a submodule first; answer with the reason instead of
            # the import system's bare "cannot import name". Real submodule names (lightning.pytorch) stay a
            # plain "not found", so that probes such as importlib.util.find_spec keep returning None.
            raise ImportError(_stand_in_message(name, "cannot import name"), name=fullname)
        return None  # a real lightning's own submodule, or a missing one

    def _lightning_spec(self, path: Any, target: types.ModuleType | None) -> importlib.machinery.ModuleSpec:
        real = self._find_elsewhere("lightning", path, target)
        if real is None:
            return importlib.machinery.ModuleSpec(
                "lightning", _STAND_IN_LOADER, origin=_ORIGIN, is_package=True
            )
        if real.loader is not None:
            real.loader = _GraftingLoader(real.loader)
        return real

    def _find_elsewhere(
        self, fullname: str, path: Any, target: types.ModuleType | None
    ) -> importlib.machinery.ModuleSpec | None:
        """What the rest of ``sys.meta_path`` finds for ``fullname``, as if this finder were not installed."""
        if getattr(self._searching, "active", False):
            return None
        self._searching.active = True
        try:
            for finder in list(sys.meta_path):
                if finder is self or isinstance(finder, _CompatFinder) or getattr(finder, _HOOK_MARK, False):
                    continue
                find_spec = getattr(finder, "find_spec", None)
                spec = find_spec(fullname, path, target) if find_spec is not None else None
                if spec is not None:
                    return spec
            return None
        finally:
            self._searching.active = False


_APP_LOADER = _AppModuleLoader()
_STAND_IN_LOADER = _StandInLightningLoader()
_FINDER = _CompatFinder()


_HOOK_MARK = "is_lightning_ctl_compat_hook"
"""Set on the finder that ``lightning_ctl_compat.pth`` appends to ``sys.meta_path`` in every interpreter."""


def find_spec_on_demand(
    fullname: str, path: Any = None, target: types.ModuleType | None = None
) -> importlib.machinery.ModuleSpec | None:
    """What the ``.pth`` hook answers for ``lightning``/``lightning_app`` names nothing else on the path has.

    The hook sits at the *end* of ``sys.meta_path`` in every interpreter where lightning-ctl is installed, so it
    costs nothing to unrelated programs and never shadows a real package: a real ``lightning_app`` or PyTorch
    Lightning is found first and used as itself. Only when a plain ``python script.py`` asks for
    ``lightning_app...``, ``lightning.app...`` or a ``lightning`` that is not installed does it serve the
    compatibility layer (and install it, as ``lightning-ctl run`` does), so that such a script runs its works
    inline with the SDK.
    """
    top, _, rest = fullname.partition(".")
    if top == "lightning_app" or (top == "lightning" and (not rest or rest.partition(".")[0] == "app")):
        # Only the finder: grafting onto a real ``lightning`` here would import ``lightning.app`` again from
        # inside its own import. Such a script gets ``lightning.app``; ``lightning`` itself stays as it is.
        _put_finder_first()
        return _FINDER.find_spec(fullname, path, target)
    return None


def install() -> None:
    """Serve the former framework's import names from now on (idempotent).

    Puts the finder first on ``sys.meta_path`` (moving it there if something was inserted ahead since), so
    it takes precedence over an installed ``lightning-app`` distribution. A real ``lightning`` imported before
    this call gets ``lightning.app`` and the app classes grafted on at once.
    """
    _put_finder_first()
    lightning = sys.modules.get("lightning")
    if lightning is not None and "app" not in lightning.__dict__:
        _graft(lightning)


def _put_finder_first() -> None:
    for finder in [f for f in sys.meta_path if isinstance(f, _CompatFinder)]:
        sys.meta_path.remove(finder)
    sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    """Stop serving the former framework's names; modules already imported stay in ``sys.modules``."""
    for finder in [f for f in sys.meta_path if isinstance(f, _CompatFinder)]:
        sys.meta_path.remove(finder)
