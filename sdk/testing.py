"""Ready-made components for tests and examples."""

from __future__ import annotations

from typing import Any

from lightning_ctl.sdk._flow import LightningFlow
from lightning_ctl.sdk._work import LightningWork


class EmptyFlow(LightningFlow):
    """A flow whose run does nothing."""

    def run(self, *args: Any, **kwargs: Any) -> None:
        """Do nothing."""


class EmptyWork(LightningWork):
    """A work whose run does nothing."""

    def run(self, *args: Any, **kwargs: Any) -> None:
        """Do nothing."""
