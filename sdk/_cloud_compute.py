"""CloudCompute: what hardware a work asks for, and the resource request placement reads from it."""

from __future__ import annotations

import copy
import dataclasses
import os
import uuid
from dataclasses import dataclass
from typing import Any

from lightning_ctl.sdk._sizes import parse_size

__all__ = ["CLOUD_COMPUTE_TYPE", "CloudCompute"]

CLOUD_COMPUTE_TYPE = "__cloud_compute__"
"""Value of the ``"type"`` key that marks a dict as a serialized :class:`CloudCompute`."""

_DEFAULT_ID = "default"
_DEFAULT_NAMES = ("default", "cpu")

# (cpus, gpus) asked for by each well-known name when the fields don't say.
_NAME_DEFAULTS: dict[str, tuple[float, int]] = {
    "cpu-small": (1.0, 0),
    "cpu-medium": (2.0, 0),
    "cpu-large": (4.0, 0),
    "gpu": (1.0, 1),
    "gpu-fast": (1.0, 1),
    "gpu-multi": (1.0, 4),
    "gpu-fast-multi": (1.0, 4),
}


@dataclass
class CloudCompute:
    """The hardware a work asks for.

    The reference's named instance types (``"cpu-small"``, ``"gpu"``, ``"gpu-fast-multi"``...) map to
    default CPU and GPU counts; lightning-ctl adds ``gpus``, ``cpus``, ``memory`` and ``labels`` to
    ask for exact resources on an agent. See :meth:`resource_request`.

    Raises:
        ValueError: Mount paths repeat, ``colocation_group_id`` is longer than 64 characters,
            ``interruptible`` is set without GPU support for it, or a resource field is invalid.
    """

    name: str = "default"
    """Instance type name, lower-cased. ``"default"`` and ``"cpu"`` become ``"cpu-small"``."""
    disk_size: int = 0
    """Disk size in GB."""
    idle_timeout: float | None = None
    """Seconds without a call (none running, none queued) after which the work's process is stopped, freeing
    what it holds; its next call starts it again. None: it runs until the work is stopped or the app ends."""
    shm_size: int | None = None
    """Shared memory in MB; defaults to 1024 for GPU names and 0 otherwise."""
    mounts: Any = None
    """A mount (an object with ``mount_path``) or a list of them; the paths must be unique."""
    colocation_group_id: str | None = None
    """Works with the same id are placed together; at most 64 characters."""
    interruptible: bool = False
    """Whether the work may run on interruptible (spot) capacity."""
    gpus: int | None = None
    """lightning-ctl: number of GPUs; None to use the name's default."""
    cpus: float | None = None
    """lightning-ctl: number of CPUs; None to use the name's default."""
    memory: str | int | None = None
    """lightning-ctl: memory in bytes or as a size string such as ``"4Gi"``; None for no requirement."""
    labels: dict[str, str] | None = None
    """lightning-ctl: agent labels the work must be placed on, such as ``{"zone": "a"}``."""
    pack_nodes: bool = False
    """lightning-ctl: the nodes of a ``MultiNode`` may share an agent that has room for several (each with its own
    GPUs); by default each node runs on an agent of its own."""
    _internal_id: str | None = None
    """``"default"`` for the default compute, else a random 7-hex-character id."""

    def __post_init__(self) -> None:
        self.name = self.name.lower()
        is_default = self.name in _DEFAULT_NAMES
        if is_default:
            self.name = "cpu-small"
        if self._internal_id is None:
            self._internal_id = _DEFAULT_ID if is_default else _generate_id()

        if self.shm_size is None:
            self.shm_size = 1024 if "gpu" in self.name else 0

        if self.colocation_group_id is not None and len(self.colocation_group_id) > 64:
            raise ValueError(
                f"colocation_group_id must be at most 64 characters; got {len(self.colocation_group_id)}"
            )

        if self.interruptible and not (
            os.environ.get("LIGHTNING_INTERRUPTIBLE_WORKS") == "1" and "gpu" in self.name
        ):
            raise ValueError(
                f"CloudCompute(name={self.name!r}, interruptible=True) is not supported: interruptible works"
                " need a GPU instance name and LIGHTNING_INTERRUPTIBLE_WORKS=1"
            )

        _check_mount_paths_unique(self.mounts)
        self._check_resources()
        if not isinstance(self.pack_nodes, bool):
            raise ValueError(f"CloudCompute pack_nodes must be True or False; got {self.pack_nodes!r}")

    @property
    def preemptible(self) -> bool:
        """Alias of :attr:`interruptible`."""
        return self.interruptible

    def resource_request(self) -> dict[str, Any]:
        """Return the resources a work with this compute needs from an agent.

        Explicit ``gpus``, ``cpus`` and ``memory`` win. Otherwise the name decides: ``cpu-small`` 1 CPU,
        ``cpu-medium`` 2, ``cpu-large`` 4; ``gpu`` and ``gpu-fast`` 1 GPU, ``gpu-multi`` and
        ``gpu-fast-multi`` 4 GPUs. Other names ask for 1 CPU, and for 4 GPUs if they contain "gpu"
        and "multi", 1 GPU if they contain only "gpu". Memory defaults to 0 (no requirement).

        Returns:
            ``{"gpus": int, "cpus": float, "memory_bytes": int, "labels": dict[str, str]}``.
        """
        default_cpus, default_gpus = _NAME_DEFAULTS.get(self.name, _guess_defaults(self.name))
        return {
            "gpus": int(self.gpus) if self.gpus is not None else default_gpus,
            "cpus": float(self.cpus) if self.cpus is not None else default_cpus,
            "memory_bytes": parse_size(self.memory) if self.memory is not None else 0,
            "labels": dict(self.labels or {}),
        }

    def to_dict(self) -> dict[str, Any]:
        """Return the compute as a dict tagged ``{"type": "__cloud_compute__"}``, as stored in state."""
        data: dict[str, Any] = {"type": CLOUD_COMPUTE_TYPE}
        for field in dataclasses.fields(self):
            data[field.name] = getattr(self, field.name)
        data["mounts"] = _mounts_to_dict(self.mounts)
        data["labels"] = dict(self.labels) if self.labels is not None else None
        return data

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CloudCompute:
        """Rebuild a compute from :meth:`to_dict` output, keeping its id.

        Mounts come back as the dicts they were saved as. Unknown keys are ignored, so dicts written
        by the reference framework load too.

        Raises:
            ValueError: ``d["type"]`` is present and is not ``"__cloud_compute__"``.
        """
        kind = d.get("type", CLOUD_COMPUTE_TYPE)
        if kind != CLOUD_COMPUTE_TYPE:
            raise ValueError(
                f"not a serialized CloudCompute: type is {kind!r}, expected {CLOUD_COMPUTE_TYPE!r}"
            )
        names = {field.name for field in dataclasses.fields(cls)}
        kwargs = {key: value for key, value in d.items() if key in names}
        if kwargs.get("labels") is not None:
            kwargs["labels"] = dict(kwargs["labels"])
        return cls(**kwargs)

    def clone(self) -> CloudCompute:
        """Return a copy with a new random id, so it can be attached to another work."""
        clone = copy.deepcopy(self)
        clone._internal_id = _generate_id()
        return clone

    def _check_resources(self) -> None:
        if self.gpus is not None and (
            isinstance(self.gpus, bool) or not isinstance(self.gpus, int) or self.gpus < 0
        ):
            raise ValueError(f"CloudCompute gpus must be a non-negative int; got {self.gpus!r}")
        if self.cpus is not None and (
            isinstance(self.cpus, bool) or not isinstance(self.cpus, (int, float)) or self.cpus < 0
        ):
            raise ValueError(f"CloudCompute cpus must be a non-negative number; got {self.cpus!r}")
        if self.memory is not None:
            parse_size(self.memory)
        if self.idle_timeout is not None and (
            isinstance(self.idle_timeout, bool) or not isinstance(self.idle_timeout, (int, float))
            or self.idle_timeout < 0
        ):
            raise ValueError(
                f"CloudCompute idle_timeout must be a non-negative number of seconds or None; got {self.idle_timeout!r}"
            )


def _generate_id() -> str:
    return uuid.uuid4().hex[:7]


def _guess_defaults(name: str) -> tuple[float, int]:
    if "gpu" not in name:
        return 1.0, 0
    return 1.0, 4 if "multi" in name else 1


def _mount_path(mount: Any) -> Any:
    return mount.get("mount_path") if isinstance(mount, dict) else getattr(mount, "mount_path", None)


def _check_mount_paths_unique(mounts: Any) -> None:
    if not isinstance(mounts, list):
        return
    seen: set[Any] = set()
    for mount in mounts:
        path = _mount_path(mount)
        if path in seen:
            raise ValueError(
                f"every mount in CloudCompute(mounts=...) needs a unique mount_path; {path!r} repeats"
            )
        seen.add(path)


def _mount_to_dict(mount: Any) -> Any:
    if hasattr(mount, "to_dict"):
        return mount.to_dict()
    if dataclasses.is_dataclass(mount) and not isinstance(mount, type):
        return dataclasses.asdict(mount)
    return mount


def _mounts_to_dict(mounts: Any) -> Any:
    if isinstance(mounts, list):
        return [_mount_to_dict(mount) for mount in mounts]
    if mounts is None:
        return None
    return _mount_to_dict(mounts)
