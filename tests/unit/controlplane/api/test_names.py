"""Tests for controlplane.names: a WORK is a full name or an unambiguous dotted suffix of one."""

from __future__ import annotations

import pytest

from lightning_ctl.controlplane.api.names import WorkNameError, resolve_work_name, resolve_work_names

WORKS = ["root.w", "root.sub.w", "root.trainer", "root.sub.server"]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("root.trainer", "root.trainer"),
        ("trainer", "root.trainer"),
        ("sub.w", "root.sub.w"),
        ("server", "root.sub.server"),
        ("root.w", "root.w"),
    ],
)
def test_full_names_and_unambiguous_suffixes_resolve(pattern: str, expected: str) -> None:
    """A full name, or a suffix made of whole dotted parts that only one work has, names that work."""
    assert resolve_work_name(pattern, WORKS) == expected


def test_ambiguous_suffix_lists_every_match() -> None:
    """`w` matches root.w and root.sub.w: the error says so and names both."""
    with pytest.raises(WorkNameError) as caught:
        resolve_work_name("w", WORKS)
    assert "ambiguous" in str(caught.value)
    assert "root.sub.w" in str(caught.value) and "root.w" in str(caught.value)
    assert caught.value.candidates == ("root.sub.w", "root.w")


def test_suffix_must_be_whole_dotted_parts() -> None:
    """`ainer` is not a suffix of root.trainer in the dotted sense: no match."""
    with pytest.raises(WorkNameError) as caught:
        resolve_work_name("ainer", WORKS)
    assert "no work is named 'ainer'" in str(caught.value)
    assert "root.trainer" in str(caught.value)


def test_unknown_name_in_an_app_without_works() -> None:
    """The error says the app has no works rather than listing nothing."""
    with pytest.raises(WorkNameError, match="the app has no works"):
        resolve_work_name("w", [])


def test_full_name_wins_over_a_longer_name_ending_the_same_way() -> None:
    """root.w is exact even though root.x.root.w also ends with it."""
    assert resolve_work_name("root.w", ["root.w", "root.x.root.w"]) == "root.w"


def test_several_patterns_resolve_in_order_without_duplicates() -> None:
    """Two patterns naming the same work give it once; order follows the patterns."""
    assert resolve_work_names(["trainer", "sub.w", "root.trainer"], WORKS) == ["root.trainer", "root.sub.w"]


def test_long_candidate_lists_are_shortened() -> None:
    """An error never lists more than ten names."""
    works = [f"root.f{i}.w" for i in range(15)]
    with pytest.raises(WorkNameError) as caught:
        resolve_work_name("w", works)
    assert "(5 more)" in str(caught.value)
