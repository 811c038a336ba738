"""BuildConfig: how a work's environment would be built (kept for API compatibility; unused locally)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["BUILD_CONFIG_KEY", "BuildConfig"]

BUILD_CONFIG_KEY = "__build_config__"
"""Key under which :meth:`BuildConfig.to_dict` nests the fields, as the reference does."""


@dataclass
class BuildConfig:
    """How to build a work's environment: extra packages, a Dockerfile or a base image.

    lightning-ctl runs works in the agent's environment; only ``image`` is acted on, by the Kubernetes provider
    (the agent of a work whose ``cloud_build_config`` names an image runs in that image). The rest is kept so
    that apps written for the reference framework construct unchanged. Nothing is read from disk.
    """

    requirements: list[str] = field(default_factory=list)
    """Packages, or paths to requirement files."""
    dockerfile: str | None = None
    """Path to a Dockerfile."""
    image: str | None = None
    """Base image name."""

    def __post_init__(self) -> None:
        # A lone string would otherwise be read as a list of one-letter requirements.
        if isinstance(self.requirements, str):
            raise TypeError(
                f"BuildConfig(requirements=...) takes a list of strings; got the string {self.requirements!r}"
            )
        self.requirements = list(self.requirements)

    def build_commands(self) -> list[str]:
        """Return extra shell commands to run when building; override to add some.

        Returns:
            The commands; none by default.
        """
        return []

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"__build_config__": {"requirements", "dockerfile", "image"}}``."""
        return {
            BUILD_CONFIG_KEY: {
                "requirements": list(self.requirements),
                "dockerfile": self.dockerfile,
                "image": self.image,
            }
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BuildConfig:
        """Rebuild a config from :meth:`to_dict` output (or from the bare field dict)."""
        fields = d.get(BUILD_CONFIG_KEY, d)
        return cls(
            requirements=list(fields.get("requirements") or []),
            dockerfile=fields.get("dockerfile"),
            image=fields.get("image"),
        )
