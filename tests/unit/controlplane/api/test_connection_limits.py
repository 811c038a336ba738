"""The descriptor watch, without processes."""

from __future__ import annotations

from lightning_ctl.controlplane.api.connection_limits import DescriptorWatch, open_descriptors


class TestDescriptorWatch:
    def test_warns_once_when_running_low(self) -> None:
        """Below 90 % nothing; at 90 % one warning with the counts; never again after."""
        said: list[tuple[int, int]] = []
        watch = DescriptorWatch(lambda count, limit: said.append((count, limit)))
        assert not watch.check(500, 1000)
        assert watch.check(950, 1000)
        assert not watch.check(1000, 1000)
        assert not watch.check(100, 1000) and not watch.check(990, 1000)
        assert said == [(950, 1000)]

    def test_counts_this_process(self) -> None:
        """With no figures given it measures this process (which has at least its standard streams open)."""
        assert open_descriptors() >= 3
        assert not DescriptorWatch(lambda count, limit: None).check(limit=10**6)
