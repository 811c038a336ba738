"""Tests for sdk._status: status enums, status dicts and WorkStatus/AppStatus."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from lightning_ctl.sdk._status import (
    AppStage,
    AppStatus,
    CacheCallsKeys,
    WorkFailureReasons,
    WorkStageStatus,
    WorkStatus,
    WorkStopReasons,
    make_status,
)


class TestEnums:
    def test_work_stage_values_match_the_reference(self):
        """WorkStageStatus has the reference's seven stage strings."""
        assert [stage.value for stage in WorkStageStatus] == [
            "not_started",
            "started",
            "pending",
            "running",
            "succeeded",
            "failed",
            "stopped",
        ]

    def test_failure_reasons_keep_reference_spelling_and_add_ours(self):
        """WorkFailureReasons keeps "spot_retrival" and adds process_exited, agent_lost and invalid_event."""
        assert WorkFailureReasons.SPOT_RETRIVAL == "spot_retrival"
        assert {reason.value for reason in WorkFailureReasons} == {
            "timeout",
            "spot_retrival",
            "user_exception",
            "invalid_return_value",
            "process_exited",
            "agent_lost",
            "invalid_event",
            "port_unavailable",
        }

    def test_stop_reasons_include_killed_after_grace_and_idle_timeout(self):
        """WorkStopReasons has the reference's two reasons plus killed_after_grace and idle_timeout."""
        assert {reason.value for reason in WorkStopReasons} == {
            "sigterm_signal_handler",
            "pending",
            "killed_after_grace",
            "idle_timeout",
        }

    def test_app_stage_values_match_the_reference(self):
        """AppStage has the reference's five stages."""
        expected = {"blocking", "running", "restarting", "stopping", "failed"}
        assert {stage.value for stage in AppStage} == expected

    def test_cache_calls_key_is_latest_call_hash(self):
        """CacheCallsKeys.LATEST_CALL_HASH is the ledger key "latest_call_hash"."""
        assert CacheCallsKeys.LATEST_CALL_HASH == "latest_call_hash"

    @pytest.mark.parametrize("member", [WorkStageStatus.RUNNING, AppStage.BLOCKING, WorkStopReasons.KILLED])
    def test_members_print_and_format_as_their_value(self, member):
        """str(), f-strings and json.dumps give the plain value."""
        assert str(member) == member.value
        assert f"{member}" == member.value
        assert json.dumps(member) == json.dumps(member.value)

    def test_members_compare_equal_to_strings(self):
        """Members equal their string value, so state strings compare directly."""
        assert WorkStageStatus("succeeded") is WorkStageStatus.SUCCEEDED
        assert "failed" == WorkStageStatus.FAILED


class TestMakeStatus:
    def test_has_stage_and_current_timestamp(self):
        """make_status stores the stage as a plain string and the current epoch time."""
        before = time.time()
        status = make_status(WorkStageStatus.RUNNING)
        assert status.keys() == {"stage", "timestamp"}
        assert type(status["stage"]) is str and status["stage"] == "running"
        assert before <= status["timestamp"] <= time.time()

    def test_adds_message_and_reason_only_when_truthy(self):
        """message and reason appear only when non-empty."""
        assert make_status("failed", message="", reason=None).keys() == {"stage", "timestamp"}
        status = make_status("failed", message="Traceback...", reason="user_exception")
        assert status["message"] == "Traceback..." and status["reason"] == "user_exception"


class TestWorkStatus:
    def test_from_dict_reads_a_make_status_dict(self):
        """A status dict from make_status becomes a WorkStatus with count 1."""
        status = WorkStatus.from_dict(make_status("failed", message="boom", reason="timeout"))
        assert (status.stage, status.reason, status.message, status.count) == ("failed", "timeout", "boom", 1)

    def test_round_trips_through_to_dict(self):
        """to_dict then from_dict gives an equal status."""
        status = WorkStatus(stage="stopped", timestamp=1700000000.5, reason="pending", message="m", count=3)
        assert WorkStatus.from_dict(status.to_dict()) == status

    def test_to_dict_has_all_five_fields_and_is_json(self):
        """to_dict has every field, even the empty ones, and serializes as JSON."""
        data = WorkStatus(stage=WorkStageStatus.RUNNING, timestamp=1.0).to_dict()
        assert data == {"stage": "running", "timestamp": 1.0, "reason": None, "message": None, "count": 1}
        json.dumps(data)

    def test_enum_stage_is_stored_as_plain_string(self):
        """An enum stage is normalized to its string value."""
        assert type(WorkStatus(stage=WorkStageStatus.PENDING, timestamp=1.0).stage) is str

    def test_is_frozen(self):
        """A WorkStatus can't be modified."""
        status = WorkStatus(stage="running", timestamp=1.0)
        with pytest.raises(dataclasses.FrozenInstanceError):
            status.stage = "failed"  # type: ignore[misc]

    def test_from_dict_ignores_unknown_keys(self):
        """Extra keys in a status dict are ignored."""
        assert WorkStatus.from_dict({"stage": "pending", "timestamp": 2, "extra": 1}).timestamp == 2.0

    def test_from_dict_names_missing_keys(self):
        """A status dict without stage or timestamp raises ValueError naming them."""
        with pytest.raises(ValueError, match="'timestamp'"):
            WorkStatus.from_dict({"stage": "running"})


class TestAppStatus:
    def test_round_trips_through_to_dict(self):
        """An AppStatus survives to_dict and from_dict."""
        app_status = AppStatus(
            is_ui_ready=True,
            work_statuses={"root.w": WorkStatus(stage="running", timestamp=5.0)},
        )
        assert AppStatus.from_dict(json.loads(json.dumps(app_status.to_dict()))) == app_status
