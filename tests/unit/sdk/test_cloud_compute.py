"""Tests for sdk._cloud_compute (CloudCompute) and sdk._sizes (parse_size)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest

from lightning_ctl.sdk._cloud_compute import CloudCompute
from lightning_ctl.sdk._sizes import parse_size


@dataclass
class _Mount:
    source: str
    mount_path: str


class TestNames:
    @pytest.mark.parametrize("name", ["default", "cpu", "DEFAULT", "Cpu"])
    def test_default_names_become_cpu_small_with_default_id(self, name):
        """"default" and "cpu" (any case) become "cpu-small" with the shared id "default"."""
        compute = CloudCompute(name)
        assert compute.name == "cpu-small"
        assert compute._internal_id == "default"

    def test_names_are_lower_cased(self):
        """Instance names are lower-cased."""
        assert CloudCompute("GPU-Fast").name == "gpu-fast"

    def test_other_names_get_a_random_seven_hex_id(self):
        """Non-default computes get distinct random 7-hex-character ids."""
        first, second = CloudCompute("gpu"), CloudCompute("gpu")
        assert re.fullmatch(r"[0-9a-f]{7}", first._internal_id)
        assert first._internal_id != second._internal_id

    def test_explicit_cpu_small_is_not_the_default_compute(self):
        """Naming "cpu-small" explicitly makes a non-default compute with its own id."""
        assert CloudCompute("cpu-small")._internal_id != "default"


class TestValidation:
    @pytest.mark.parametrize(
        ("name", "expected"), [("gpu", 1024), ("gpu-fast-multi", 1024), ("cpu-medium", 0)]
    )
    def test_shm_size_defaults_by_name(self, name, expected):
        """shm_size defaults to 1024 for GPU names and 0 otherwise."""
        assert CloudCompute(name).shm_size == expected

    def test_explicit_shm_size_is_kept(self):
        """An explicit shm_size wins over the name's default."""
        assert CloudCompute("gpu", shm_size=0).shm_size == 0

    def test_colocation_group_id_over_64_chars_is_rejected(self):
        """A colocation group id longer than 64 characters raises ValueError."""
        CloudCompute(colocation_group_id="g" * 64)
        with pytest.raises(ValueError, match="64"):
            CloudCompute(colocation_group_id="g" * 65)

    def test_interruptible_needs_env_flag_and_gpu_name(self, monkeypatch):
        """interruptible=True is allowed only with LIGHTNING_INTERRUPTIBLE_WORKS=1 and a GPU name."""
        monkeypatch.delenv("LIGHTNING_INTERRUPTIBLE_WORKS", raising=False)
        with pytest.raises(ValueError, match="interruptible"):
            CloudCompute("gpu", interruptible=True)
        monkeypatch.setenv("LIGHTNING_INTERRUPTIBLE_WORKS", "1")
        with pytest.raises(ValueError, match="interruptible"):
            CloudCompute("cpu-medium", interruptible=True)
        compute = CloudCompute("gpu", interruptible=True)
        assert compute.interruptible and compute.preemptible

    def test_duplicate_mount_paths_are_rejected(self):
        """Two mounts with the same mount_path raise ValueError naming the path."""
        mounts = [_Mount("s3://a/", "/data/x"), _Mount("s3://b/", "/data/x")]
        with pytest.raises(ValueError, match="/data/x"):
            CloudCompute(mounts=mounts)

    def test_unique_mount_paths_and_single_mounts_are_accepted(self):
        """Unique mount paths, or a single mount object, are accepted."""
        CloudCompute(mounts=[_Mount("s3://a/", "/data/a"), _Mount("s3://b/", "/data/b")])
        CloudCompute(mounts=_Mount("s3://a/", "/data/a"))

    @pytest.mark.parametrize(
        "kwargs",
        [{"gpus": -1}, {"gpus": 1.5}, {"gpus": True}, {"cpus": -0.5}, {"cpus": "2"}, {"memory": "lots"}],
    )
    def test_invalid_resource_fields_are_rejected(self, kwargs):
        """Negative or mistyped gpus/cpus and unparsable memory raise at construction."""
        with pytest.raises(ValueError):
            CloudCompute(**kwargs)

    @pytest.mark.parametrize("value", [-1, "60", True])
    def test_invalid_idle_timeout_is_rejected_naming_it(self, value):
        """idle_timeout takes None or a non-negative number of seconds; anything else names the field."""
        with pytest.raises(ValueError, match="idle_timeout"):
            CloudCompute(idle_timeout=value)

    @pytest.mark.parametrize("value", [None, 0, 30, 0.5])
    def test_idle_timeout_in_seconds_is_accepted(self, value):
        """None (never), 0 (as soon as idle) and positive seconds are accepted."""
        assert CloudCompute(idle_timeout=value).idle_timeout == value


class TestSerialization:
    def test_to_dict_matches_the_reference_shape(self):
        """The default compute serializes like the reference, plus the lightning-ctl fields."""
        assert CloudCompute().to_dict() == {
            "type": "__cloud_compute__",
            "name": "cpu-small",
            "disk_size": 0,
            "idle_timeout": None,
            "shm_size": 0,
            "mounts": None,
            "colocation_group_id": None,
            "interruptible": False,
            "gpus": None,
            "cpus": None,
            "memory": None,
            "labels": None,
            "pack_nodes": False,
            "_internal_id": "default",
        }

    def test_round_trips_through_json_keeping_the_id(self):
        """to_dict, JSON and from_dict give back an equal compute with the same id."""
        compute = CloudCompute("gpu-fast", disk_size=50, gpus=2, cpus=8, memory="16Gi", labels={"zone": "a"})
        restored = CloudCompute.from_dict(json.loads(json.dumps(compute.to_dict())))
        assert restored == compute
        assert restored._internal_id == compute._internal_id

    def test_mounts_serialize_as_dicts(self):
        """Dataclass mounts are written as dicts and come back as dicts."""
        compute = CloudCompute(mounts=[_Mount("s3://a/", "/data/a")])
        data = compute.to_dict()
        assert data["mounts"] == [{"source": "s3://a/", "mount_path": "/data/a"}]
        assert CloudCompute.from_dict(data).mounts == [{"source": "s3://a/", "mount_path": "/data/a"}]

    def test_from_dict_ignores_unknown_keys(self):
        """Keys that aren't fields (e.g. from another version) are ignored."""
        data = {**CloudCompute().to_dict(), "preemptible": False, "future_field": 1}
        assert CloudCompute.from_dict(data) == CloudCompute()

    def test_from_dict_rejects_other_types(self):
        """A dict tagged with another type raises ValueError."""
        with pytest.raises(ValueError, match="__drive__"):
            CloudCompute.from_dict({"type": "__drive__", "name": "gpu"})

    def test_to_dict_copies_labels(self):
        """Changing the labels in to_dict output doesn't change the compute."""
        compute = CloudCompute(labels={"zone": "a"})
        compute.to_dict()["labels"]["zone"] = "b"
        assert compute.labels == {"zone": "a"}

    def test_clone_copies_fields_with_a_new_id(self):
        """clone() copies every field but gets a fresh random id."""
        compute = CloudCompute("gpu", labels={"zone": "a"})
        clone = compute.clone()
        assert clone._internal_id != compute._internal_id
        assert re.fullmatch(r"[0-9a-f]{7}", clone._internal_id)
        assert clone.to_dict() | {"_internal_id": None} == compute.to_dict() | {"_internal_id": None}
        clone.labels["zone"] = "b"
        assert compute.labels == {"zone": "a"}

    def test_clone_of_default_is_not_default(self):
        """A clone of the default compute gets its own id."""
        assert CloudCompute().clone()._internal_id != "default"


class TestResourceRequest:
    @pytest.mark.parametrize(
        ("name", "cpus", "gpus"),
        [
            ("default", 1.0, 0),
            ("cpu-small", 1.0, 0),
            ("cpu-medium", 2.0, 0),
            ("cpu-large", 4.0, 0),
            ("gpu", 1.0, 1),
            ("gpu-fast", 1.0, 1),
            ("gpu-multi", 1.0, 4),
            ("gpu-fast-multi", 1.0, 4),
            ("gpu-custom", 1.0, 1),
            ("my-instance", 1.0, 0),
        ],
    )
    def test_names_map_to_default_resources(self, name, cpus, gpus):
        """Each instance name asks for its default CPUs and GPUs and no memory."""
        expected = {"gpus": gpus, "cpus": cpus, "memory_bytes": 0, "labels": {}}
        assert CloudCompute(name).resource_request() == expected

    def test_explicit_fields_win_over_the_name(self):
        """gpus, cpus, memory and labels given explicitly override the name's defaults."""
        compute = CloudCompute("gpu-fast-multi", gpus=2, cpus=6, memory="4Gi", labels={"rack": "r1"})
        assert compute.resource_request() == {
            "gpus": 2,
            "cpus": 6.0,
            "memory_bytes": 4 * 2**30,
            "labels": {"rack": "r1"},
        }

    def test_zero_gpus_on_a_gpu_name_is_respected(self):
        """An explicit gpus=0 is not mistaken for "unset"."""
        assert CloudCompute("gpu", gpus=0).resource_request()["gpus"] == 0

    def test_memory_in_bytes_is_accepted(self):
        """memory may be an int number of bytes."""
        assert CloudCompute(memory=1024).resource_request()["memory_bytes"] == 1024

    def test_request_types_are_normalized(self):
        """cpus is always a float and gpus an int."""
        request = CloudCompute(cpus=2).resource_request()
        assert type(request["cpus"]) is float and type(request["gpus"]) is int


class TestParseSize:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (0, 0),
            (1536, 1536),
            ("1536", 1536),
            ("100B", 100),
            ("1K", 1000),
            ("1k", 1000),
            ("1KB", 1000),
            ("1Ki", 1024),
            ("1KiB", 1024),
            ("512MB", 512 * 10**6),
            ("512Mi", 512 * 2**20),
            ("4G", 4 * 10**9),
            ("4Gi", 4 * 2**30),
            ("4gib", 4 * 2**30),
            ("2T", 2 * 10**12),
            ("2Ti", 2 * 2**40),
            ("1.5Gi", 3 * 2**29),
            (" 8 Gi ", 8 * 2**30),
            ("0.5K", 500),
        ],
    )
    def test_parses_decimal_and_binary_units(self, value, expected):
        """K/M/G/T are powers of 1000; with "i" they are powers of 1024; B and case are optional."""
        assert parse_size(value) == expected

    def test_fractions_round_down_to_whole_bytes(self):
        """A fractional byte count is truncated."""
        assert parse_size("1.0001K") == 1000

    @pytest.mark.parametrize("value", ["", "Gi", "4 GB extra", "4Xi", "-1G", "4i", "1e9", "four", "4..5G"])
    def test_bad_strings_raise_value_error_naming_the_value(self, value):
        """An unparsable size raises ValueError that quotes the value."""
        with pytest.raises(ValueError, match=re.escape(repr(value))):
            parse_size(value)

    def test_negative_ints_are_rejected(self):
        """A negative byte count raises ValueError."""
        with pytest.raises(ValueError, match="-5"):
            parse_size(-5)

    @pytest.mark.parametrize("value", [1.5, True, None, [1]])
    def test_non_int_non_str_values_raise_type_error(self, value):
        """Floats, bools and other types raise TypeError."""
        with pytest.raises(TypeError):
            parse_size(value)
