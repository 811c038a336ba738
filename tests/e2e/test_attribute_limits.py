"""End-to-end: a work's attribute values against the size limit (``lightning-ctl run --max-attribute-size``).

A value past the limit fails its assignment in the work (the call fails with an error naming the attribute and
the limit; the attribute keeps what the flow has), a value grown past it in place fails the call at its end, a
value under it arrives whole; the app goes on and ends by itself (the sender thread of the work never dies).
"""

from __future__ import annotations

import pytest

from tests.e2e import reported

TIMEOUT_S = 90.0
MIB = 2**20


@pytest.mark.e2e
def test_values_past_a_configured_limit_fail_only_their_call(launch) -> None:  # noqa: ANN001 - fixture
    """With --max-attribute-size 1Mi: a 2 MB assignment and a list grown to 2 MB fail their calls naming the
    attribute and the limit; a 1 MB - 1 KB value arrives whole; the app ends with status 0."""
    app = launch("attribute_limits.py", "--max-attribute-size", "1Mi",
                 env={"ATTR_BIG_BYTES": str(2 * 10**6), "ATTR_UNDER_BYTES": str(MIB - 1024)})
    run = app.wait(TIMEOUT_S)
    assert run.exit_code == 0, run.stderr
    outcome = reported(run.stdout, "OUTCOME")
    limit = f"over the limit of {MIB} bytes for a state attribute (lightning-ctl run --max-attribute-size)"
    assert outcome["assigns"]["stage"] == "failed", outcome
    assert "root.assigns.blob: a value of 2000002 bytes (as JSON), " + limit in outcome["assigns"]["message"]
    assert 'self.blob = "x" * BIG' in outcome["assigns"]["message"], "the traceback shows the user's line"
    assert outcome["grows"]["stage"] == "failed" and "root.grows.items: a value of" in outcome["grows"]["message"]
    assert limit in outcome["grows"]["message"]
    assert outcome["fits"]["stage"] == "succeeded", outcome
    assert reported(run.stdout, "SEEN")["assigns"] == len("small")
    assert reported(run.stdout, "SEEN")["fits"] == MIB - 1024


@pytest.mark.e2e
def test_a_70_MB_value_fails_its_assignment_by_default(launch) -> None:  # noqa: ANN001 - fixture
    """With the default limit (16 MiB), assigning a 70 MB value fails the call naming the attribute and the limit
    (it used to kill the work's sender thread and leave the flow seeing "running" for ever); the app ends."""
    app = launch("attribute_limits.py", env={"ATTR_BIG_BYTES": str(70 * 10**6), "ATTR_UNDER_BYTES": "1000"})
    run = app.wait(TIMEOUT_S)
    assert run.exit_code == 0, run.stderr
    outcome = reported(run.stdout, "OUTCOME")
    assert outcome["assigns"]["stage"] == "failed", outcome
    assert f"root.assigns.blob: a value of 70000002 bytes (as JSON), over the limit of {16 * MIB} bytes" in \
        outcome["assigns"]["message"]
    assert outcome["fits"]["stage"] == "succeeded"


@pytest.mark.e2e
@pytest.mark.parametrize("size", ["512", "1Ti", "lots"])
def test_max_attribute_size_out_of_range_is_a_usage_error(launch, size: str) -> None:  # noqa: ANN001 - fixture
    """--max-attribute-size outside 1 KiB..512 MiB, or not a size, is a usage error naming the flag."""
    run = launch("attribute_limits.py", "--max-attribute-size", size).wait(30)
    assert run.exit_code == 2 and "--max-attribute-size" in run.stderr, run.stderr
