"""Packaging beyond what pyproject.toml can say: the ``lightning_ctl_compat.pth`` import hook.

The hook lets a plain ``python example.py`` that imports ``lightning_app`` / ``lightning.app`` find lightning-ctl's
SDK when no real one is installed (see ``sdk/_compat.py``: ``find_spec_on_demand``). A ``.pth`` file must sit at
the top of site-packages, where no package can put it, so ``build_py`` adds it to the wheel's root.
"""

from __future__ import annotations

import os

from setuptools import setup
from setuptools.command.build_py import build_py

HOOK = "lightning_ctl_compat.pth"


class BuildPyWithHook(build_py):
    """``build_py`` that also puts the import hook at the root of the built wheel."""

    def run(self) -> None:
        """Build as usual, then copy the import hook beside the packages."""
        super().run()
        self.copy_file(HOOK, os.path.join(self.build_lib, HOOK), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        """The usual outputs and the import hook."""
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, HOOK)]


setup(cmdclass={"build_py": BuildPyWithHook})
