"""End-to-end: a plain ``python example.py`` written for the former framework runs its works inline, from a real
installation (a wheel of this tree installed into a fresh virtual environment, so the ``lightning_ctl_compat.pth``
import hook is where pip puts it), while a real ``lightning`` or ``lightning_app`` keeps working as itself and
unrelated programs import nothing of ours."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("sdk", "protos", "controlplane", "agent", "pyproject.toml", "setup.py", "lightning_ctl_compat.pth",
           "README.md")

EXAMPLE = """
{imports}

class Counting(LightningWork):
    def __init__(self):
        super().__init__(cache_calls=True)
        self.executions = 0

    def run(self, value):
        self.executions += 1
        print("executing", value)

w = Counting()
w.run(value=1)
w.run(value=1)
w.run(value=2)
print("EXECUTIONS", w.executions, w.status.stage)
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh virtual environment holding only this tree's wheel (no dependencies needed by the
    SDK's inline mode)."""
    root = tmp_path_factory.mktemp("inline-compat")
    source = root / "src"
    for name in SHIPPED:
        item = REPO / name
        if item.is_dir():
            shutil.copytree(item, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(item, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(root / "dist"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    purelib = next(env_dir.glob("lib/python*/site-packages"))
    (wheel,) = (root / "dist").glob("*.whl")
    zipfile.ZipFile(wheel).extractall(purelib)
    assert (purelib / "lightning_ctl_compat.pth").is_file()
    return env_dir / "bin" / "python"


def run_script(python: Path, folder: Path, source: str, pythonpath: Path | None = None) -> str:
    """Run ``source`` as ``python example.py`` in ``folder``; its stdout (fails on a non-zero exit)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "example.py").write_text(textwrap.dedent(source))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder)}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    done = subprocess.run([str(python), "example.py"], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.e2e
@pytest.mark.parametrize("imports", [
    "from lightning.app import LightningWork",
    "from lightning_app import LightningWork",
    "from lightning_app.core.work import LightningWork",
    "import lightning as L\nLightningWork = L.LightningWork",
])
def test_former_framework_script_runs_inline(installed: Path, tmp_path: Path, imports: str) -> None:
    """With no real lightning_app installed, the script's work runs in-process with the SDK's call caching."""
    out = run_script(installed, tmp_path, EXAMPLE.format(imports=imports))
    assert out.splitlines() == ["executing 1", "executing 2", "EXECUTIONS 2 succeeded"]


@pytest.mark.e2e
def test_real_pytorch_lightning_stays_itself(installed: Path, tmp_path: Path) -> None:
    """A real `lightning` on the path is imported as itself (its Trainer intact); lightning.app still comes from
    lightning-ctl when the real package does not bundle it."""
    fake = tmp_path / "site" / "lightning"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("__version__ = '2.9.0'\nTrainer = 'the real Trainer'\n")
    out = run_script(installed, tmp_path / "app", """
        import lightning as L
        print("TRAINER", L.Trainer, L.__file__.endswith("site/lightning/__init__.py"))
        from lightning.app import LightningWork
        print("WORK", LightningWork.__module__)
    """, pythonpath=tmp_path / "site")
    assert out.splitlines() == ["TRAINER the real Trainer True", "WORK lightning_ctl.sdk._work"]


@pytest.mark.e2e
def test_real_lightning_app_stays_itself(installed: Path, tmp_path: Path) -> None:
    """An installed lightning_app (the former framework itself) wins over the hook."""
    fake = tmp_path / "site" / "lightning_app"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("LightningWork = 'the real framework'\n")
    out = run_script(installed, tmp_path / "app", "from lightning_app import LightningWork\nprint(LightningWork)\n",
                     pythonpath=tmp_path / "site")
    assert out.splitlines() == ["the real framework"]


@pytest.mark.e2e
def test_unrelated_programs_import_nothing_of_ours(installed: Path, tmp_path: Path) -> None:
    """The hook only sits at the end of sys.meta_path: a program that never asks for lightning imports nothing."""
    out = run_script(installed, tmp_path, """
        import json, sys
        import email.mime.text
        try:
            import no_such_module_anywhere
        except ImportError:
            pass
        print(sorted(m for m in sys.modules if m.startswith(("lightning", "lightning_ctl"))))
    """)
    assert out.splitlines() == ["[]"]
