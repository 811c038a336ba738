"""Tests of the distribution's layout: every package of the tree is installed, under the lightning_ctl namespace."""

from __future__ import annotations

from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("sdk", "protos", "controlplane", "agent")


def test_every_package_in_the_tree_is_listed_in_pyproject():
    """A new sub-package cannot be forgotten: pyproject's list equals the folders holding an __init__.py."""
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    in_tree = {
        "lightning_ctl." + ".".join(init.parent.relative_to(REPO).parts)
        for folder in FOLDERS
        for init in (REPO / folder).rglob("__init__.py")
    }
    assert listed == in_tree


def test_nothing_generic_is_installed_at_the_top_level():
    """Every installed package lives under lightning_ctl (no `sdk`, `agent`... in site-packages)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(name.startswith("lightning_ctl.") for name in config["packages"])
    assert config["package-dir"] == {"lightning_ctl": "."}
