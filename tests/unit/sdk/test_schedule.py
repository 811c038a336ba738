"""Tests for sdk._schedule: cron normalization and next firing times."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from lightning_ctl.sdk._schedule import ALIASES, next_fire_time, normalize_cron

_REPO_ROOT = Path(__file__).resolve().parents[3]
_NEW_YORK = "America/New_York"


@pytest.fixture
def local_tz(monkeypatch):
    """Return a function that sets the process's local time zone for the test, restored afterwards."""

    def set_tz(name: str) -> None:
        if name != "UTC" and not Path("/usr/share/zoneinfo", name).exists():
            pytest.skip(f"time zone {name} not installed")
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_tz
    monkeypatch.undo()
    time.tzset()


def _utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=timezone.utc).timestamp()


def _as_utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)


class TestNormalizeCron:
    @pytest.mark.parametrize("alias", sorted(ALIASES))
    def test_bare_aliases_become_at_aliases(self, alias):
        """Each bare alias such as "hourly" becomes "@hourly"."""
        assert normalize_cron(alias) == f"@{alias}"

    def test_alias_table_matches_the_reference(self):
        """The seven reference aliases are supported."""
        assert ALIASES == {
            name: f"@{name}"
            for name in ("midnight", "hourly", "daily", "weekly", "monthly", "yearly", "annually")
        }

    @pytest.mark.parametrize("pattern", ["Daily", " hourly ", "@weekly"])
    def test_aliases_ignore_case_blanks_and_an_existing_at(self, pattern):
        """Aliases match case-insensitively, surrounding blanks are dropped, "@alias" passes through."""
        assert normalize_cron(pattern) == "@" + pattern.strip().lower().lstrip("@")

    @pytest.mark.parametrize(
        "pattern", ["*/5 * * * *", "0 9 * * mon-fri", "* * * * * */2", "0 0 1 1 * 0 2030"]
    )
    def test_valid_expressions_pass_through(self, pattern):
        """Valid 5-, 6- and 7-field expressions are returned unchanged."""
        assert normalize_cron(f"  {pattern} ") == pattern

    @pytest.mark.parametrize(
        "pattern",
        ["", "* * * *", "61 * * * *", "* 25 * * *", "every minute", "@fortnightly", "* * * * * * * *"],
    )
    def test_invalid_expressions_raise_value_error_quoting_the_pattern(self, pattern):
        """An invalid expression raises ValueError that quotes it."""
        with pytest.raises(ValueError, match=re.escape(f"invalid cron expression '{pattern}'")):
            normalize_cron(pattern)

    def test_non_strings_raise_type_error(self):
        """A pattern that isn't a string raises TypeError."""
        with pytest.raises(TypeError, match="string"):
            normalize_cron(None)  # type: ignore[arg-type]


class TestNextFireTime:
    def test_sixth_field_is_seconds(self, local_tz):
        """"* * * * * */2" fires on even seconds."""
        local_tz("UTC")
        start = _utc(2024, 1, 1, 12, 0, 0)
        assert next_fire_time("* * * * * */2", start + 0.5) == start + 2
        assert next_fire_time("* * * * * */2", start + 1) == start + 2

    def test_sixth_field_fixes_the_second_within_each_minute(self, local_tz):
        """"* * * * * 30" fires at second 30 of every minute."""
        local_tz("UTC")
        assert next_fire_time("* * * * * 30", _utc(2024, 1, 1, 12, 0, 0)) == _utc(2024, 1, 1, 12, 0, 30)
        assert next_fire_time("* * * * * 30", _utc(2024, 1, 1, 12, 0, 30)) == _utc(2024, 1, 1, 12, 1, 30)

    def test_result_is_strictly_after(self, local_tz):
        """A time that matches the pattern exactly is not returned again."""
        local_tz("UTC")
        start = _utc(2024, 1, 1, 12, 0, 2)
        assert next_fire_time("* * * * * */2", start) == start + 2
        assert next_fire_time("0 * * * *", _utc(2024, 1, 1, 12)) == _utc(2024, 1, 1, 13)

    @pytest.mark.parametrize(
        ("pattern", "after", "expected"),
        [
            ("*/15 * * * *", (2024, 1, 1, 12, 7, 10), (2024, 1, 1, 12, 15)),
            ("0 9 * * *", (2024, 1, 1, 10, 0), (2024, 1, 2, 9, 0)),
            ("30 8 * * mon", (2024, 1, 3, 0, 0), (2024, 1, 8, 8, 30)),
            ("0 0 1 * *", (2024, 1, 31, 23, 59, 59), (2024, 2, 1, 0, 0)),
            ("0 0 29 2 *", (2024, 3, 1), (2028, 2, 29)),
            ("0 0 1 1 * 0 2030", (2024, 6, 1), (2030, 1, 1)),
        ],
    )
    def test_five_and_seven_field_patterns(self, local_tz, pattern, after, expected):
        """Standard 5-field patterns (and a 7-field one with a year) fire at the expected minute."""
        local_tz("UTC")
        assert next_fire_time(pattern, _utc(*after)) == _utc(*expected)

    @pytest.mark.parametrize(
        ("alias", "expected"),
        [
            ("hourly", (2024, 5, 10, 13)),
            ("@daily", (2024, 5, 11)),
            ("monthly", (2024, 6, 1)),
            ("yearly", (2025, 1, 1)),
        ],
    )
    def test_aliases_fire_like_their_expressions(self, local_tz, alias, expected):
        """Bare and @-aliases are accepted and fire at the start of their period."""
        local_tz("UTC")
        assert next_fire_time(alias, _utc(2024, 5, 10, 12, 30)) == _utc(*expected)

    def test_fields_are_read_in_local_time(self, local_tz):
        """Like cron, "0 9 * * *" means 09:00 in the machine's time zone."""
        local_tz(_NEW_YORK)
        seven_am_local = _utc(2024, 1, 15, 12)
        nine_am_local = datetime(2024, 1, 15, 14, tzinfo=timezone.utc)
        assert _as_utc(next_fire_time("0 9 * * *", seven_am_local)) == nine_am_local

    def test_wall_clock_is_kept_across_daylight_saving_start(self, local_tz):
        """Midnight stays local midnight when clocks go forward (EST to EDT)."""
        local_tz(_NEW_YORK)
        assert _as_utc(next_fire_time("0 0 * * *", _utc(2024, 3, 9, 17))) == datetime(
            2024, 3, 10, 5, tzinfo=timezone.utc
        )
        assert _as_utc(next_fire_time("0 0 * * *", _utc(2024, 3, 10, 17))) == datetime(
            2024, 3, 11, 4, tzinfo=timezone.utc
        )

    def test_repeated_hour_after_clocks_go_back_moves_forward(self, local_tz):
        """In the second pass of 01:00-02:00 on fall-back day the next time is still in the future."""
        local_tz(_NEW_YORK)
        first_pass = _utc(2024, 11, 3, 5, 40)  # 01:40 EDT
        second_pass = _utc(2024, 11, 3, 6, 40)  # 01:40 EST
        assert next_fire_time("*/15 * * * *", first_pass) == _utc(2024, 11, 3, 5, 45)
        assert next_fire_time("*/15 * * * *", second_pass) == _utc(2024, 11, 3, 6, 45)

    def test_invalid_pattern_raises_value_error(self):
        """next_fire_time validates the pattern like normalize_cron."""
        with pytest.raises(ValueError, match="invalid cron expression"):
            next_fire_time("61 * * * *", 0.0)


def test_importing_the_module_does_not_import_croniter():
    """croniter is imported lazily, so importing the schedule helpers stays cheap."""
    code = "import sys, sdk._schedule; print('croniter' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=_REPO_ROOT,
        env=dict(os.environ),
    )
    assert result.stdout.strip() == "False"
