"""ProviderSettings: what ``lightning-ctl run --provider ...`` asked for (light to import: the CLI builds it early).

``--provider-option KEY=VALUE`` values are kept as strings here; each engine reads the keys it knows with
:meth:`ProviderSettings.take`, and :meth:`ProviderSettings.check_all_used` turns any key left over into a usage
error naming it, so a typo never passes silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lightning_ctl.controlplane.errors import ProviderOptionError

ENGINES = ("slurm", "kubernetes", "local")
DEFAULT_MAX_AGENTS = 10
DEFAULT_IDLE_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class ProviderSettings:
    """The engine that starts agents on demand, and how."""

    engine: str
    """"slurm", "kubernetes" or "local"."""
    options: dict[str, str] = field(default_factory=dict)
    """``--provider-option`` values by key."""
    max_agents: int = DEFAULT_MAX_AGENTS
    """At most this many requested agents at once (a gang counts once)."""
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    """A requested agent idle this long is released."""

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ProviderOptionError(f"--provider must be one of {', '.join(ENGINES)}; got {self.engine!r}")

    def get(self, key: str, default: str = "") -> str:
        """The value of ``--provider-option key=...``, or ``default``."""
        return self.options.get(key, default)

    def number(self, key: str, default: float, minimum: float = 0.0) -> float:
        """A numeric option; a clear error naming it when it is not a number >= ``minimum``."""
        text = self.options.get(key)
        if text is None:
            return default
        try:
            value = float(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise ProviderOptionError(f"--provider-option {key}={text}: expected a number >= {minimum:g}")
        return value

    def check_all_used(self, known: tuple[str, ...]) -> None:
        """Fail naming the first option the engine does not know.

        Raises:
            ProviderOptionError: an option key is not in ``known``.
        """
        for key in self.options:
            if key not in known:
                raise ProviderOptionError(
                    f"--provider-option {key}: unknown to the {self.engine} provider "
                    f"(it takes: {', '.join(sorted(known))})"
                )


def parse_provider_options(values: tuple[str, ...]) -> dict[str, str]:
    """``("K=V", ...)`` as a dict.

    Raises:
        ProviderOptionError: a value is not KEY=VALUE, or a key repeats.
    """
    options: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise ProviderOptionError(f"--provider-option expects KEY=VALUE, got {value!r}")
        if key in options:
            raise ProviderOptionError(f"--provider-option {key} is given more than once")
        options[key] = val
    return options
