"""What this machine offers: CPUs and memory from psutil, GPUs from NVML (none without a driver)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psutil
import structlog

from lightning_ctl.sdk._agent_messages import AgentUsage, GpuUsage

log = structlog.get_logger(component="inventory")


@dataclass(frozen=True, slots=True)
class Gpu:
    """One GPU as NVML reports it."""

    index: int
    uuid: str
    name: str
    memory_bytes: int


@dataclass(frozen=True, slots=True)
class Inventory:
    """The resources an agent offers to works."""

    cpus: float
    memory_bytes: int
    gpus: tuple[Gpu, ...]


@contextlib.contextmanager
def _nvml() -> Iterator[Any]:
    """``pynvml``, initialised for the block; None when there is no driver (NVML missing or failing)."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - NVML missing or failing means "no GPUs", never a crash
        log.debug("nvml_unavailable", error=str(exc))
        yield None
        return
    try:
        yield pynvml
    finally:
        pynvml.nvmlShutdown()


def detect_gpus() -> tuple[Gpu, ...]:
    """The GPUs NVML sees; empty when there is no driver or no device."""
    with _nvml() as nvml:
        if nvml is None:
            return ()
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            uuid = nvml.nvmlDeviceGetUUID(handle)
            name = nvml.nvmlDeviceGetName(handle)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle).total
            gpus.append(Gpu(index, _text(uuid), _text(name), int(memory)))
        return tuple(gpus)


def measure_usage() -> AgentUsage:
    """This machine's live use: CPU (since the last call), memory, and each GPU's utilisation and memory.

    Blocks for NVML's calls (a few ms): call it from a worker thread.
    """
    return AgentUsage(psutil.cpu_percent(interval=None), psutil.virtual_memory().used, _gpu_usage())


def _gpu_usage() -> tuple[GpuUsage, ...]:
    with _nvml() as nvml:
        if nvml is None:
            return ()
        try:
            usage = []
            for index in range(nvml.nvmlDeviceGetCount()):
                handle = nvml.nvmlDeviceGetHandleByIndex(index)
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                rates = nvml.nvmlDeviceGetUtilizationRates(handle)
                usage.append(GpuUsage(index, float(rates.gpu), int(memory.used), int(memory.total)))
            return tuple(usage)
        except Exception:  # noqa: BLE001 - a GPU that fails to answer leaves the figures out, never the heartbeat
            return ()


def parse_gpu_indices(selection: str) -> set[int]:
    """``"0,2"`` as ``{0, 2}``; ValueError naming the value otherwise."""
    try:
        return {int(part) for part in selection.split(",") if part.strip()}
    except ValueError:
        raise ValueError(f"--gpus takes all, none, or comma-separated indices like 0,2; got {selection!r}") from None


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def detect(
    cpus: float | None = None, memory_bytes: int | None = None, gpu_selection: str = "all"
) -> Inventory:
    """This machine's inventory, restricted or declared by the operator.

    Args:
        cpus: CPUs to offer instead of the detected count.
        memory_bytes: memory to offer instead of the detected total.
        gpu_selection: "all", "none", or comma-separated indices ("0,2"); without NVML, indices declare GPUs.
    """
    gpus = () if gpu_selection == "none" else detect_gpus()
    if gpu_selection not in ("all", "none"):
        wanted = parse_gpu_indices(gpu_selection)
        if gpus:
            gpus = tuple(g for g in gpus if g.index in wanted)
        else:  # no driver: the operator declares the GPUs (also how GPU placement is tested without GPUs)
            gpus = tuple(Gpu(i, f"declared-gpu-{i}", "declared", 0) for i in sorted(wanted))
            log.warning("gpus_declared_without_nvml", indices=sorted(wanted))
    return Inventory(
        cpus=float(cpus if cpus is not None else psutil.cpu_count() or 1),
        memory_bytes=int(memory_bytes if memory_bytes is not None else psutil.virtual_memory().total),
        gpus=gpus,
    )
