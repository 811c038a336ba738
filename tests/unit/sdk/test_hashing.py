"""Tests for sdk._hashing: which calls count as "the same call"."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lightning_ctl.sdk._hashing import START_CALL_HASH, call_hash

_REPO_ROOT = Path(__file__).resolve().parents[3]


class _WithToDict:
    def __init__(self, data: dict) -> None:
        self._data = data

    def to_dict(self) -> dict:
        return self._data


class TestShape:
    def test_hash_is_16_lowercase_hex_chars(self):
        """A call hash is 16 lowercase hex characters."""
        assert re.fullmatch(r"[0-9a-f]{16}", call_hash((1, "a"), {"k": [None]}))

    def test_start_hash_cannot_collide_with_a_call_hash(self):
        """The start action's hash is not hex, so no real call can share it."""
        assert START_CALL_HASH == "start"
        assert not re.fullmatch(r"[0-9a-f]{16}", START_CALL_HASH)

    def test_same_arguments_give_same_hash(self):
        """Equal arguments of equal types hash the same."""
        assert call_hash((1, [2, {"a": 3}]), {"x": "y"}) == call_hash((1, [2, {"a": 3}]), {"x": "y"})

    def test_known_calls_keep_their_pinned_hashes(self):
        """The encoding is frozen: checkpointed call ledgers rely on these exact values."""
        assert call_hash((), {}) == "91f83253e8b2675f"
        assert call_hash((1,), {}) == "35a8a0f3c919a34d"
        assert call_hash((), {"x": 1}) == "49fd915e76f5feac"

    def test_hash_is_stable_across_processes(self):
        """The hash doesn't depend on per-process hash randomization."""
        code = "from sdk._hashing import call_hash; print(call_hash(('a', {'b', 'c'}), {'d': 1.5}))"
        outputs = {
            subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                check=True,
                env={"PYTHONHASHSEED": seed},
                cwd=_REPO_ROOT,
            ).stdout.strip()
            for seed in ("1", "2", "3")
        }
        assert outputs == {call_hash(("a", {"b", "c"}), {"d": 1.5})}


class TestTypesAreDistinguished:
    def test_int_float_bool_and_str_differ(self):
        """1, 1.0, True and "1" all hash differently."""
        hashes = {call_hash((value,), {}) for value in (1, 1.0, True, "1")}
        assert len(hashes) == 4

    def test_zero_false_and_none_differ(self):
        """0, False, None and "" hash differently."""
        hashes = {call_hash((value,), {}) for value in (0, False, None, "", 0.0)}
        assert len(hashes) == 5

    def test_list_and_tuple_differ(self):
        """[1, 2] and (1, 2) hash differently."""
        assert call_hash(([1, 2],), {}) != call_hash(((1, 2),), {})

    def test_set_and_frozenset_differ(self):
        """A set and a frozenset with the same items hash differently."""
        assert call_hash(({1, 2},), {}) != call_hash((frozenset({1, 2}),), {})

    def test_bytes_bytearray_and_str_differ(self):
        """b"a", bytearray(b"a") and "a" hash differently; equal bytes hash the same."""
        hashes = {call_hash((value,), {}) for value in (b"a", bytearray(b"a"), "a")}
        assert len(hashes) == 3
        assert call_hash((b"\x00\xff",), {}) == call_hash((bytes([0, 255]),), {})

    def test_positional_and_keyword_differ(self):
        """run(1) and run(x=1) hash differently."""
        assert call_hash((1,), {}) != call_hash((), {"x": 1})

    def test_no_arguments_differs_from_none_argument(self):
        """run() and run(None) hash differently."""
        assert call_hash((), {}) != call_hash((None,), {})

    def test_int_and_str_dict_keys_differ(self):
        """{1: "a"} and {"1": "a"} hash differently."""
        assert call_hash(({1: "a"},), {}) != call_hash(({"1": "a"},), {})

    def test_nesting_is_not_flattened(self):
        """[[1], 2] and [1, [2]] hash differently."""
        assert call_hash(([[1], 2],), {}) != call_hash(([1, [2]],), {})

    def test_strings_with_separators_do_not_collide(self):
        """Strings are encoded unambiguously, so ("a,b",) differs from ("a", "b")."""
        assert call_hash(("a,b",), {}) != call_hash(("a", "b"), {})
        assert call_hash(('a"],["str","b',), {}) != call_hash(("a", "b"), {})

    def test_argument_order_matters(self):
        """run(1, 2) and run(2, 1) hash differently."""
        assert call_hash((1, 2), {}) != call_hash((2, 1), {})


class TestOrderInsensitivity:
    def test_dict_key_order_does_not_matter(self):
        """Dicts with the same items in a different order hash the same."""
        assert call_hash(({"a": 1, "b": 2},), {}) == call_hash(({"b": 2, "a": 1},), {})

    def test_kwargs_order_does_not_matter(self):
        """Keyword arguments given in a different order hash the same."""
        assert call_hash((), {"a": 1, "b": 2}) == call_hash((), {"b": 2, "a": 1})

    def test_set_order_does_not_matter(self):
        """Sets hash the same whatever their iteration order."""
        items = [f"item-{i}" for i in range(50)]
        assert call_hash((set(items),), {}) == call_hash((set(reversed(items)),), {})
        assert call_hash((frozenset(items),), {}) == call_hash((frozenset(reversed(items)),), {})

    def test_mixed_type_dict_keys_are_sortable(self):
        """Dicts whose keys mix types hash without error and ignore order."""
        forward = {1: "a", "1": "b", None: "c"}
        backward = {None: "c", "1": "b", 1: "a"}
        assert call_hash((forward,), {}) == call_hash((backward,), {})


class TestValues:
    def test_special_floats_are_hashable(self):
        """nan, inf and -inf hash, and differ from each other."""
        hashes = {call_hash((value,), {}) for value in (math.nan, math.inf, -math.inf)}
        assert len(hashes) == 3

    def test_negative_zero_differs_from_zero(self):
        """-0.0 and 0.0 are different floats by repr, so they hash differently."""
        assert call_hash((-0.0,), {}) != call_hash((0.0,), {})

    def test_huge_ints_are_exact(self):
        """Ints beyond float precision still hash differently."""
        assert call_hash((2**64,), {}) != call_hash((2**64 + 1,), {})

    def test_unicode_strings_are_hashable(self):
        """Non-ASCII strings hash and differ from each other."""
        assert call_hash(("héllo",), {}) != call_hash(("hello",), {})

    def test_to_dict_objects_hash_as_their_dict(self):
        """An object with to_dict() hashes exactly like the dict it returns."""
        assert call_hash((_WithToDict({"path": "/a"}),), {}) == call_hash(({"path": "/a"},), {})
        assert call_hash((_WithToDict({"path": "/a"}),), {}) != call_hash((_WithToDict({"path": "/b"}),), {})

    def test_nested_to_dict_objects_are_replaced(self):
        """to_dict() objects inside containers and kwargs are replaced too."""
        assert call_hash((), {"p": [_WithToDict({"a": 1})]}) == call_hash((), {"p": [{"a": 1}]})


class TestRejections:
    def test_arbitrary_objects_raise_type_error_naming_the_type(self):
        """A value that isn't JSON-like raises TypeError naming its type."""

        class Opaque:
            pass

        with pytest.raises(TypeError, match="call arguments must be JSON values, bytes, tuples or sets .*got a .*Opaque"):
            call_hash((Opaque(),), {})

    def test_nested_unsupported_values_are_rejected(self):
        """Unsupported values inside containers are rejected too."""
        with pytest.raises(TypeError, match="got a builtins.complex"):
            call_hash((), {"x": [{"y": 1j}]})

    def test_classes_with_to_dict_are_not_called(self):
        """A class (not an instance) with a to_dict method is rejected, not called unbound."""
        with pytest.raises(TypeError, match="got a builtins.type"):
            call_hash((_WithToDict,), {})

    def test_reference_cycles_raise_value_error(self):
        """A list that contains itself raises ValueError instead of recursing forever."""
        looped: list = [1]
        looped.append(looped)
        with pytest.raises(ValueError, match="reference cycles"):
            call_hash((looped,), {})

    def test_shared_references_are_not_cycles(self):
        """The same list used twice is not a cycle."""
        shared = [1, 2]
        assert call_hash(([shared, shared],), {}) == call_hash(([[1, 2], [1, 2]],), {})
