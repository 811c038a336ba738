"""Agents on demand.

A provider asks an engine fleets already run (Slurm, Kubernetes, or this machine) for an agent with exactly
the resources a waiting work needs, and gives it back once idle.

``base`` holds the interface, ``planner`` the pure decisions, ``manager`` the asyncio driver, and one module per
engine: ``slurm``, ``kubernetes`` (with ``k8s_manifests``), ``local``.
"""

from __future__ import annotations

from pathlib import Path

from lightning_ctl.controlplane.errors import ProviderError, ProviderOptionError
from lightning_ctl.controlplane.providers.base import Provider
from lightning_ctl.controlplane.providers.settings import ProviderSettings

__all__ = ["Provider", "ProviderError", "ProviderOptionError", "ProviderSettings", "make_provider"]


def make_provider(settings: ProviderSettings, work_dir: Path) -> Provider:
    """The provider ``settings`` names, its options checked (engines' modules are imported only when chosen).

    Raises:
        ProviderOptionError: an option is unknown to the engine or has a bad value.
        ProviderError: the engine cannot be used here (e.g. the kubernetes extra is not installed).
    """
    from lightning_ctl.controlplane.providers.manager import MANAGER_OPTIONS

    if settings.engine == "slurm":
        from lightning_ctl.controlplane.providers import slurm

        settings.check_all_used(MANAGER_OPTIONS + slurm.OPTIONS)
        return slurm.SlurmProvider(settings, work_dir)
    if settings.engine == "kubernetes":
        from lightning_ctl.controlplane.providers import kubernetes

        settings.check_all_used(MANAGER_OPTIONS + kubernetes.OPTIONS)
        return kubernetes.KubernetesProvider(settings, app_key=work_dir.name)
    from lightning_ctl.controlplane.providers import local

    settings.check_all_used(MANAGER_OPTIONS + local.OPTIONS)
    return local.LocalProvider(settings, work_dir)
