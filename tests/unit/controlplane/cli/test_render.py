"""Tests for controlplane.cli.render (tables, units, safe output, state changes) and the logs command's durations."""

from __future__ import annotations

import datetime

import pytest

from lightning_ctl.controlplane.api.app_view import AgentView, AppView, LogLine, RequestView, WorkView
from lightning_ctl.controlplane.cli.logs import parse_duration
from lightning_ctl.controlplane.cli.render import (
    agents_table,
    display_width,
    first_line,
    flatten_state,
    format_bytes,
    format_duration,
    format_time,
    log_line_text,
    safe_text,
    state_changes,
    status_json,
    status_text,
    table,
    works_table,
)


def test_table_aligns_columns_and_leaves_no_trailing_spaces() -> None:
    """Columns line up under their headers, two spaces apart; empty cells show "-"; right-aligned numbers."""
    text = table(("NAME", "N", "NOTE"), [("a", 1, ""), ("longer", 100, None)], right=(1,))
    assert text.splitlines() == [
        "NAME      N  NOTE",
        "a         1  -",
        "longer  100  -",
    ]
    assert all(line == line.rstrip() for line in text.splitlines())


def test_table_counts_wide_characters_as_two_columns() -> None:
    """A cell with East Asian wide characters still lines up."""
    text = table(("A", "B"), [("日本", "x"), ("ab", "y")])
    lines = text.splitlines()
    assert display_width(lines[1][: lines[1].index("x")]) == display_width(lines[2][: lines[2].index("y")])
    assert display_width("日本") == 4


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 B"), (512, "512 B"), (1536, "1.5 KiB"), (int(7.8 * 2**30), "7.8 GiB"), (3 * 2**40, "3.0 TiB")],
)
def test_format_bytes_uses_binary_units(count: int, text: str) -> None:
    """Sizes read like 7.8 GiB."""
    assert format_bytes(count) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.43, "0.4s"),
        (12.7, "12s"),
        (192, "3m12s"),
        (7500, "2h05m"),
        (3 * 86400 + 4 * 3600, "3d04h"),
        (-1, "0.0s"),
    ],
)
def test_format_duration_is_short(seconds: float, text: str) -> None:
    """Durations stay short enough for a table column."""
    assert format_duration(seconds) == text


def test_format_time_shows_the_time_today_and_the_date_otherwise() -> None:
    """A start time today shows as HH:MM:SS; an older one with its date; 0 as "-"."""
    now = datetime.datetime(2025, 3, 4, 15, 0, 0).timestamp()
    assert format_time(now - 60, now) == "14:59:00"
    assert format_time(now - 2 * 86400, now) == "2025-03-02 15:00"
    assert format_time(0, now) == "-"


def test_safe_text_escapes_control_characters_and_keeps_colours_and_tabs() -> None:
    """Terminal control sequences from a work are shown escaped; SGR colours and tabs stay as they are."""
    text = "a\tb \x1b[31mred\x1b[0m \x1b]0;title\x07 \x00 \r \x9b \u2028"
    assert safe_text(text) == "a\tb \x1b[31mred\x1b[0m \\x1b]0;title\\x07 \\x00 \\x0d \\x9b \\u2028"
    assert safe_text("plain ünïcode \ufffd") == "plain ünïcode \ufffd"


def test_first_line_takes_the_first_non_empty_line_and_cuts_it() -> None:
    """A traceback in a status message shows as its first line, cut with an ellipsis."""
    assert (
        first_line("\nTraceback (most recent call last):\n  File x") == "Traceback (most recent call last):"
    )
    assert first_line("x" * 100, limit=10) == "x" * 9 + "…"
    assert first_line("") == ""


def test_log_line_text_is_prefixed_like_the_console_and_made_safe() -> None:
    """`logs` prints `root.w | text`, escaping control characters."""
    line = LogLine("root.w", 0.0, "stdout", "bell\x07")
    assert log_line_text(line) == "root.w | bell\\x07"
    stamped = log_line_text(LogLine("root.w", 1700000000.5, "stderr", "x"), timestamps=True)
    assert stamped == "2023-11-14T22:13:20.500Z root.w | x"


WORK = WorkView(
    "root.trainer",
    "running",
    attempt=2,
    pid=4242,
    agent_name="gpu-1",
    agent_id="a1",
    gpu_indices=(0, 1),
    started_at=datetime.datetime(2025, 3, 4, 14, 0, 0).timestamp(),
    status_timestamp=1.0,
)
AGENT = AgentView(
    "a1",
    "gpu-1",
    hostname="box",
    cpus_total=16,
    cpus_used=2.5,
    memory_total_bytes=64 * 2**30,
    memory_used_bytes=2**30,
    gpu_indices=(0, 1, 2, 3),
    gpus_used=(0, 1),
    work_names=("root.trainer",),
    last_heartbeat_age_s=0.4,
    labels={"zone": "b"},
)


def test_works_table_shows_status_placement_and_restarts() -> None:
    """One row per work with its agent, pid, start time, restarts (attempt - 1) and GPUs."""
    now = datetime.datetime(2025, 3, 4, 15, 0, 0).timestamp()
    pending = WorkView("root.eval", "pending", message="no agent has 2 free GPUs\nmore")
    lines = works_table([WORK, pending], now).splitlines()
    assert lines[0].split() == [
        "WORK",
        "STATUS",
        "REASON",
        "AGENT",
        "PID",
        "STARTED",
        "RESTARTS",
        "GPUS",
        "MESSAGE",
    ]
    assert lines[1].split() == ["root.trainer", "running", "-", "gpu-1", "4242", "14:00:00", "1", "0,1", "-"]
    assert lines[2].split()[:8] == ["root.eval", "pending", "-", "-", "-", "-", "0", "-"]
    assert lines[2].endswith("no agent has 2 free GPUs")


def test_agents_table_shows_used_of_total() -> None:
    """CPUs, memory and GPUs show what works hold out of what the agent offers."""
    lines = agents_table([AGENT]).splitlines()
    assert lines[1].split() == [
        "gpu-1",
        "box",
        "connected",
        "2.5/16",
        "1.0",
        "GiB/64.0",
        "GiB",
        "2/4",
        "1",
        "0.4s",
        "ago",
        "zone=b",
    ]


def test_agents_table_shows_engine_requests_joined_or_not() -> None:
    """With a provider, a REQUEST column names engine, job and work; a queued request shows Slurm's reason."""
    request = RequestView("r1", "slurm", "42", "queued", "Resources", "1 GPU", 1, "root.w")
    joined = AgentView("a2", "slurm-41", "n1", labels={"zone": "a"},
                       request=RequestView("r2", "slurm", "41", "joined", "", "1 GPU", 1, "root.v"))
    lines = agents_table([joined, AgentView("", "r1", state="queued", request=request)]).splitlines()
    assert lines[0].split()[-1] == "REQUEST"
    assert "zone=a" in lines[1]
    assert lines[1].endswith("slurm 41: 1 GPU for root.v")
    assert "queued (Resources)" in lines[2] and lines[2].endswith("slurm 42: 1 GPU for root.w")
    assert "REQUEST" not in agents_table([AGENT])


def test_status_text_and_json() -> None:
    """The human status has the app line and both tables; --json has null for unknown values."""
    app = AppView("running", "/apps/a.py", 99, (WORK, WorkView("root.idle", "not_started")), (AGENT,))
    text = status_text(app)
    assert text.splitlines()[1].split() == ["/apps/a.py", "running", "99"]
    assert "WORK" in text and "AGENT" in text
    document = status_json(app)
    assert document["app"] == {"app_path": "/apps/a.py", "stage": "running", "pid": 99}
    trainer, idle = document["works"]
    assert trainer["restarts"] == 1 and trainer["gpus"] == [0, 1] and trainer["agent"] == "gpu-1"
    assert idle["pid"] is None and idle["agent"] is None and idle["started_at"] is None
    assert document["agents"][0]["gpus"] == {"used": [0, 1], "total": [0, 1, 2, 3]}


def test_status_text_says_when_it_cut_a_message() -> None:
    """A message cut to fit (more lines, or a long first line) is counted in a note pointing at -o wide."""
    failed = WorkView("root.a", "failed", message="Traceback (most recent call last):\n  File x\nValueError: bad")
    long = WorkView("root.b", "pending", message="x" * 200)
    short = WorkView("root.c", "pending", message="fits")
    text = status_text(AppView("running", works=(failed, long, short)))
    assert "(2 messages cut to fit: `lightning-ctl status -o wide` shows them whole)" in text
    assert "cut to fit" not in status_text(AppView("running", works=(short,)))


def test_status_text_wide_shows_every_message_whole() -> None:
    """-o wide drops the message column and prints each work's message in full, indented under its name."""
    failed = WorkView("root.a", "failed", message="Traceback (most recent call last):\n  File x\nValueError: bad")
    text = status_text(AppView("running", works=(failed, WorkView("root.c", "running"))), wide=True)
    assert "MESSAGE " not in text.splitlines()[3] and text.splitlines()[3].split()[-1] == "GPUS"
    assert "MESSAGES\nroot.a:\n    Traceback (most recent call last):\n      File x\n    ValueError: bad" in text
    assert "cut to fit" not in text


def test_status_text_without_works_or_agents() -> None:
    """An app with nothing yet says so instead of printing empty tables."""
    text = status_text(AppView("running"))
    assert "(no works)" in text and "(no agents connected)" in text


PRETTY = {
    "vars": {"n": 1},
    "works": {"w": {"vars": {"count": 3, "cfg": {"lr": 0.1}}}},
    "flows": {"sub": {"vars": {"xs": [1, 2]}}},
    "app_state": {"stage": "running"},
}


def test_flatten_pretty_state_reads_like_attributes() -> None:
    """root.w.count rather than works.w.vars.count; app.stage for the app's stage."""
    assert flatten_state(PRETTY, pretty=True) == {
        "root.n": 1,
        "root.w.count": 3,
        "root.w.cfg.lr": 0.1,
        "root.sub.xs": [1, 2],
        "app.stage": "running",
    }


def test_flatten_full_state_keeps_json_paths() -> None:
    """The full state flattens by its own keys."""
    assert flatten_state({"vars": {"a": 1}, "calls": {}}, pretty=False) == {"vars.a": 1, "calls": {}}


def test_state_changes_lists_changed_added_and_removed_values() -> None:
    """Each changed path is one line: old -> new; NaN is not a change."""
    before = {"root.a": 1, "root.b": "x", "root.gone": True, "root.nan": float("nan")}
    after = {"root.a": 2, "root.b": "x", "root.new": [1], "root.nan": float("nan")}
    assert state_changes(before, after) == [
        "root.a: 1 -> 2",
        "root.gone: removed (was true)",
        "root.new: [1] (new)",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("1.5m", 90.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("5M", 300.0),
    ],
)
def test_parse_duration_accepts_units_and_combinations(text: str, seconds: float) -> None:
    """--since takes 30s, 5m, 1h30m, 2d or plain seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "1x", "1h 30m", "-5s"])
def test_parse_duration_rejects_other_text(text: str) -> None:
    """Anything else is a usage error naming the value."""
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


def test_status_lists_serving_works_with_their_urls() -> None:
    """A work with a url shows it and its proxied URL under SERVING; without one there is no such section."""
    from lightning_ctl.controlplane.cli.render import serving_table

    serving = WorkView("root.server", "running", url="http://10.0.0.5:30001",
                       proxy_url="http://127.0.0.1:7501/works/root.server/")
    idle = WorkView("root.train", "running")
    text = status_text(AppView("running", "app.py", 1, (serving, idle)))
    assert "SERVING" in text and "http://127.0.0.1:7501/works/root.server/" in text
    assert "root.train" not in serving_table([serving, idle])
    assert "SERVING" not in status_text(AppView("running", "app.py", 1, (idle,)))
