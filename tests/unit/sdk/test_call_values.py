"""Unit tests: a work's run() arguments cross to its process as JSON, with bytes, tuples, sets and non-string dict
keys kept exactly as they were (no pickle)."""

from __future__ import annotations

import datetime
import json

import pytest

from lightning_ctl.sdk._call_values import decode_arguments, encode_arguments


def _round_trip(args: tuple, kwargs: dict | None = None) -> tuple[list, dict]:
    encoded = encode_arguments("root.w", args, kwargs or {})
    wire = json.loads(json.dumps(encoded))  # what the codec and the checkpoint do to them
    return decode_arguments(wire[0]), decode_arguments(wire[1])


class TestRoundTrip:
    @pytest.mark.parametrize("value", [
        b"it is not a pickle", b"\x00\xff" * 3, bytearray(b"abc"), (1, "a", None), {1, 2, 3}, frozenset({"x"}),
        {1: "a", (2, 3): [b"x"]}, {"k": (1, {2})}, [(1, 2), {b"a"}], "plain", 3, 2.5, None, True,
    ])
    def test_values_come_back_equal_and_of_the_same_type(self, value) -> None:
        """Each value the former framework's pickled calls carried commonly arrives equal and of the same type."""
        (arrived,), _ = _round_trip((value,))
        assert arrived == value and type(arrived) is type(value)

    def test_keyword_arguments_too(self) -> None:
        """Keyword arguments are encoded like positional ones."""
        _, kwargs = _round_trip((), {"image": b"\x89PNG", "size": (64, 64)})
        assert kwargs == {"image": b"\x89PNG", "size": (64, 64)}

    def test_a_plain_dict_shaped_like_a_tag_stays_a_dict(self) -> None:
        """A user's dict whose "type" looks like one of our tags is not mistaken for a tagged value."""
        value = {"type": "__bytes__", "base64": "AAAA"}
        (arrived,), _ = _round_trip((value,))
        assert arrived == value

    def test_the_encoding_is_plain_json_and_a_copy(self) -> None:
        """The encoded arguments are JSON-ready and do not share the flow's containers."""
        items = [1, 2]
        args, _ = encode_arguments("root.w", (items,), {})
        items.append(3)
        assert args == [[1, 2]] and json.loads(json.dumps(args)) == args


class TestRefused:
    def test_an_object_that_cannot_cross_names_the_work_argument_and_type(self) -> None:
        """A datetime (or any other object) is refused naming the work, the argument and what may cross."""
        with pytest.raises(TypeError, match=r"root\.w\.run\(\.\.\.\): argument when is a datetime\.datetime.*bytes"):
            encode_arguments("root.w", (), {"when": datetime.datetime.now()})

    def test_the_position_of_a_positional_argument_is_named(self) -> None:
        """A positional argument is named by its position, even nested in a container."""
        with pytest.raises(TypeError, match="argument 2 is a builtins.complex"):
            encode_arguments("root.w", (1, [1j]), {})
