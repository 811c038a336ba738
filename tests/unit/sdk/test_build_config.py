"""Tests for sdk._build_config: BuildConfig construction and serialization."""

from __future__ import annotations

import pytest

from lightning_ctl.sdk._build_config import BuildConfig


def test_defaults_are_empty():
    """A default BuildConfig asks for nothing."""
    config = BuildConfig()
    assert (config.requirements, config.dockerfile, config.image) == ([], None, None)


def test_default_requirements_are_not_shared():
    """Each instance gets its own requirements list."""
    first, second = BuildConfig(), BuildConfig()
    first.requirements.append("torch")
    assert second.requirements == []


def test_build_commands_are_empty_by_default():
    """build_commands() returns no commands unless overridden."""
    assert BuildConfig(requirements=["numpy"]).build_commands() == []


def test_build_commands_can_be_overridden():
    """A subclass can provide its own build commands."""

    class WithCommands(BuildConfig):
        def build_commands(self) -> list[str]:
            return ["apt-get install -y ffmpeg"]

    assert WithCommands().build_commands() == ["apt-get install -y ffmpeg"]


def test_construction_does_not_read_files(tmp_path):
    """A dockerfile path that doesn't exist is kept as given, never read."""
    missing = str(tmp_path / "Dockerfile")
    assert BuildConfig(dockerfile=missing).dockerfile == missing


def test_round_trips_through_to_dict():
    """to_dict then from_dict gives an equal config."""
    config = BuildConfig(
        requirements=["torch==2.1", "reqs.txt"], dockerfile="Dockerfile", image="python:3.11"
    )
    assert BuildConfig.from_dict(config.to_dict()) == config


def test_to_dict_nests_fields_like_the_reference():
    """to_dict nests the fields under "__build_config__"."""
    assert BuildConfig(image="img").to_dict() == {
        "__build_config__": {"requirements": [], "dockerfile": None, "image": "img"}
    }


def test_from_dict_accepts_bare_fields():
    """from_dict also accepts the fields without the wrapper key."""
    assert BuildConfig.from_dict({"requirements": ["a"]}) == BuildConfig(requirements=["a"])


def test_to_dict_copies_requirements():
    """Changing the dict from to_dict doesn't change the config."""
    config = BuildConfig(requirements=["a"])
    config.to_dict()["__build_config__"]["requirements"].append("b")
    assert config.requirements == ["a"]


def test_string_requirements_are_rejected():
    """A single string for requirements raises TypeError instead of splitting into letters."""
    with pytest.raises(TypeError, match="list of strings"):
        BuildConfig(requirements="torch")  # type: ignore[arg-type]
