"""The paths `lightning-ctl run --help`, `lightning-ctl --help` and the README name are the ones the code uses."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from lightning_ctl.controlplane import run_file
from lightning_ctl.controlplane.cli import main
from lightning_ctl.controlplane.home import APP_RECORD, app_home, home, token_file

README = Path(__file__).resolve().parents[4] / "README.md"


def _named_paths(text: str) -> set[str]:
    return set(re.findall(r"~/\.lightning-ctl/[\w<>./-]*[\w>]", text))


def test_the_help_and_readme_name_the_real_run_records(tmp_path, monkeypatch) -> None:
    """Every ~/.lightning-ctl path in the help texts and the README is one the code writes (run records, the
    newest run's pointer, the app's folder and its files, the token)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    folder = "~/.lightning-ctl/apps/<digest>"
    assert app_home("app.py").parent == home() / "apps"
    real = {
        f"~/.lightning-ctl/{run_file.RUNS}/<pid>.json", f"~/.lightning-ctl/{run_file.LATEST}",
        f"~/.lightning-ctl/{token_file().name}", "~/.lightning-ctl/apps", folder, f"{folder}/local",
        f"{folder}/local/logs", f"{folder}/{APP_RECORD}", f"{folder}/storage", f"~/.lightning-ctl/{run_file.RUNS}",
        f"{folder}/slurm/slurm-<job>.log",  # the Slurm provider's default output-dir: the app's folder / slurm
        f"{folder}/run.lock",  # controlplane/exclusive.py: lock_app
    }
    runner = CliRunner()
    texts = {"run --help": runner.invoke(main, ["run", "--help"]).output,
             "--help": runner.invoke(main, ["--help"]).output, "README.md": README.read_text()}
    for where, text in texts.items():
        named = _named_paths(text)
        assert named, f"{where} names no run record"
        assert named <= real, f"{where} names paths the code does not write: {sorted(named - real)}"
    assert f"~/.lightning-ctl/{run_file.RUNS}/<pid>.json" in _named_paths(texts["run --help"])
