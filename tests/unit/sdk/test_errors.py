"""Tests for sdk.errors: the error tree, and that every error survives pickling with its context."""

from __future__ import annotations

import pickle

import pytest

import lightning_ctl.sdk.errors as errors
from lightning_ctl.sdk.errors import (
    AppImportError,
    CacheMissException,
    ExitAppException,
    InvalidReturnValueError,
    LightningError,
    LightningFlowException,
    LightningWorkException,
    MisconfigurationException,
    StateNotSerializableError,
    WorkFailedError,
)

WITH_CONTEXT = [
    (AppImportError("app.py:3: boom", path="app.py", lineno=3), {"path": "app.py", "lineno": 3}),
    (AppImportError("app.py: missing", path="app.py"), {"path": "app.py", "lineno": None}),
    (
        StateNotSerializableError("root.w.x: not JSON", component_name="root.w", attribute="x"),
        {"component_name": "root.w", "attribute": "x"},
    ),
    (
        WorkFailedError("Traceback ...", work_name="root.w", reason="user_exception"),
        {"work_name": "root.w", "reason": "user_exception", "message": "Traceback ..."},
    ),
    (WorkFailedError("died", work_name="root.w"), {"work_name": "root.w", "reason": None, "message": "died"}),
]

PLAIN = [
    CacheMissException("root.w is busy"),
    ExitAppException("done"),
    LightningFlowException("failed"),
    LightningWorkException("no children"),
    MisconfigurationException("bad"),
    InvalidReturnValueError("returned 3"),
    LightningError("root"),
]


class TestTree:
    def test_every_exported_error_descends_from_lightning_error(self):
        """Each name in sdk.errors.__all__ is a LightningError subclass."""
        for name in errors.__all__:
            assert issubclass(getattr(errors, name), LightningError), name

    def test_state_not_serializable_is_an_attribute_error(self):
        """StateNotSerializableError is also an AttributeError (it comes from attribute assignment)."""
        assert issubclass(StateNotSerializableError, AttributeError)

    def test_app_state_and_delta_errors_keep_their_builtin_kinds(self):
        """AppStateError is still an AttributeError and DeltaError a ValueError (code catching those keeps working)."""
        assert issubclass(errors.AppStateError, AttributeError) and issubclass(errors.DeltaError, ValueError)

    def test_context_is_keyword_only(self):
        """Context arguments must be passed by keyword."""
        with pytest.raises(TypeError):
            AppImportError("msg", "app.py")  # type: ignore[misc]


class TestPickling:
    @pytest.mark.parametrize(("error", "context"), WITH_CONTEXT, ids=lambda v: type(v).__name__)
    def test_round_trip_keeps_context(self, error, context):
        """An error with context unpickles as the same type with the same message and attributes."""
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert copy.args == error.args
        assert {key: getattr(copy, key) for key in context} == context

    @pytest.mark.parametrize("error", PLAIN, ids=lambda v: type(v).__name__)
    def test_round_trip_of_plain_errors(self, error):
        """Errors without context unpickle as the same type and message."""
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert copy.args == error.args

    @pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
    def test_every_pickle_protocol(self, protocol):
        """Context survives every pickle protocol."""
        error = StateNotSerializableError("m", component_name="root", attribute="a")
        copy = pickle.loads(pickle.dumps(error, protocol=protocol))
        assert (copy.component_name, copy.attribute) == ("root", "a")

    def test_unpickled_error_can_be_raised_and_caught(self):
        """An unpickled error is raised and caught like the original."""
        copy = pickle.loads(pickle.dumps(WorkFailedError("x", work_name="root.w")))
        with pytest.raises(LightningError, match="x"):
            raise copy
