"""One error tree per package, rooted in the SDK's LightningError, and exit codes defined once."""

from __future__ import annotations

import inspect

import pytest

import lightning_ctl.agent.errors as agent_errors
import lightning_ctl.controlplane.errors as controlplane_errors
from lightning_ctl.controlplane.errors import (
    ControlPlaneUnreachableError,
    InvalidRequestError,
    OperationFailedError,
    TokenRefusedError,
)
from lightning_ctl.sdk._exit_codes import ExitCode
from lightning_ctl.sdk.errors import LightningError


@pytest.mark.parametrize("module", [controlplane_errors, agent_errors], ids=lambda m: m.__name__)
def test_every_error_is_a_lightning_error(module) -> None:  # noqa: ANN001
    """Every exception class of controlplane/errors.py and agent/errors.py descends from LightningError."""
    classes = [c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == module.__name__]
    assert classes and all(issubclass(c, LightningError) for c in classes)


def test_client_errors_carry_the_one_table_of_exit_codes() -> None:
    """The operator's client errors exit with the statuses ExitCode defines (3, 4, 2, 1)."""
    assert [e.exit_code for e in (ControlPlaneUnreachableError, TokenRefusedError, InvalidRequestError,
                                  OperationFailedError)] == [ExitCode.UNREACHABLE, ExitCode.AUTH_REFUSED,
                                                             ExitCode.USAGE, ExitCode.FAILED]
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 130, 143]


def test_errors_keep_their_context_through_pickling() -> None:
    """Errors with keyword context survive pickling (they cross threads and processes)."""
    import pickle

    error = agent_errors.RegistrationRefusedError("refused", address="h:1", exit_code=ExitCode.FAILED)
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.address, copy.exit_code) == ("refused", "h:1", ExitCode.FAILED)
