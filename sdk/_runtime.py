"""The interface a hosting process plugs into the SDK.

The SDK knows nothing of gRPC or processes. Three kinds of process host components:

- the control plane runs the flows: it installs a runtime whose ``dispatch_call`` / ``stop_work`` / ``start_work``
  turn flow-side actions into commands for agents;
- a work process runs one work: it installs a runtime whose ``record_change`` streams the work's attribute changes
  and whose ``is_executing`` tells the SDK that ``work.run`` must execute the user's code;
- a plain ``python app.py`` has no runtime: ``work.run(...)`` executes inline, with the same call caching.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lightning_ctl.sdk._work import LightningWork


class Runtime:
    """Hooks the SDK calls into; the default implementation of each is what a process without that role does."""

    def dispatch_call(self, work: LightningWork, call_hash: str, args: tuple, kwargs: dict) -> None:
        """Send a call of ``work`` (its pending status is already recorded)."""
        raise RuntimeError(f"work '{work.name}' cannot be called from this process")

    def start_work(self, work: LightningWork) -> None:
        """Start the process of ``work`` and run its start action."""
        raise RuntimeError(f"work '{work.name}' cannot be started from this process")

    def stop_work(self, work: LightningWork) -> None:
        """Stop the process of ``work`` (its pending stopped status is already recorded)."""
        raise RuntimeError(f"work '{work.name}' can only be stopped from the flow (control plane) process")

    def record_change(self, work: LightningWork, name: str, value: Any) -> None:
        """A public attribute of ``work`` was assigned inside its own process."""



_current: Runtime | None = None


def get_runtime() -> Runtime | None:
    """The runtime installed in this process, or None when components run inline."""
    return _current


def set_runtime(runtime: Runtime | None) -> None:
    """Install ``runtime`` for this process (None to go back to inline execution)."""
    global _current
    _current = runtime
