"""OutputDeduplicator: each line shown once, and whether the console still has lines to write."""

from __future__ import annotations

from lightning_ctl.controlplane.output.dedup import OutputDeduplicator
from lightning_ctl.sdk._events import LinesLogged


def test_output_is_behind_until_the_console_wrote_it() -> None:
    """Lines taken to be shown leave their work behind until the console reports them written (then the agent can
    be told how far it went, and nothing is left to acknowledge)."""
    dedup = OutputDeduplicator()
    assert not dedup.is_behind("root.w", 1)
    fresh = dedup.fresh("root.w", 1, LinesLogged("stdout", ("a", "b"), 0, 4))
    assert fresh is not None and dedup.is_behind("root.w", 1)
    dedup.written("root.w", 1, "stdout", 4)
    assert not dedup.is_behind("root.w", 1) and dedup.shown("root.w", 1) == (4, 0)


def test_a_resend_of_what_is_on_screen_is_not_shown_again() -> None:
    """Lines sent again after a reconnection are recognised by their offsets and counted as written."""
    dedup = OutputDeduplicator()
    dedup.fresh("root.w", 1, LinesLogged("stderr", ("x",), 0, 2))
    assert dedup.fresh("root.w", 1, LinesLogged("stderr", ("x",), 0, 2)) is None
    assert not dedup.is_behind("root.w", 1) and dedup.shown("root.w", 1) == (0, 2)
