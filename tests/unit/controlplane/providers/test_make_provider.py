"""Choosing a provider: options checked against the engine, a missing extra named."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lightning_ctl.controlplane.providers import (
    ProviderError,
    ProviderOptionError,
    ProviderSettings,
    make_provider,
)


def test_an_option_the_engine_does_not_know_is_named(tmp_path: Path) -> None:
    """--provider-option namespace=... means nothing to Slurm: the error names it and lists what Slurm takes."""
    with pytest.raises(ProviderOptionError, match="namespace: unknown to the slurm provider.*partition"):
        make_provider(ProviderSettings("slurm", {"namespace": "ml"}), tmp_path)


def test_the_kubernetes_provider_without_its_extra_names_the_extra(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the kubernetes package, the error says which extra to install."""
    monkeypatch.setitem(sys.modules, "kubernetes", None)
    with pytest.raises(ProviderError, match=r"lightning-ctl\[kubernetes\]"):
        make_provider(ProviderSettings("kubernetes"), tmp_path)


def test_an_unknown_engine_is_refused() -> None:
    """--provider names one of the engines."""
    with pytest.raises(ProviderOptionError, match="slurm, kubernetes, local"):
        ProviderSettings("nomad")
