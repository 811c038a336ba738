"""The fixtures of the flow runtime's tests (test_flow_runtime.py, test_refused_events.py, test_endpoints.py).

A Rig installed as the SDK's runtime, and apps built on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from lightning_ctl.controlplane.flows.flow_runtime import FlowActions
from lightning_ctl.sdk import LightningApp
from lightning_ctl.sdk._runtime import set_runtime
from tests.unit.controlplane.flows.test_flow_runtime import Rig, Root


@pytest.fixture
def runtime() -> Iterator[Rig]:
    """A Rig whose FlowRuntime is installed (through FlowActions) as the SDK's runtime, reset afterwards."""
    rig = Rig()
    set_runtime(FlowActions(rig.runtime, rig.sent.extend))
    yield rig
    set_runtime(None)


@pytest.fixture
def make_app(runtime: Rig) -> Callable[..., LightningApp]:
    """Build an app whose works the runtime can look up by name."""
    return lambda **work_kwargs: runtime.bind(LightningApp(Root(**work_kwargs)))
