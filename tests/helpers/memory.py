"""Peak memory of processes while something runs (tests that bound it, benchmarks that print it)."""

from __future__ import annotations

import threading

import psutil

SAMPLE_S = 0.02


class PeakRss:
    """The peak RSS of some processes, sampled every 20 ms on a thread from creation until :meth:`stop`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.values = {name: 0 for name in pids}
        self._pids = pids
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(SAMPLE_S):
            for name, pid in self._pids.items():
                try:
                    self.values[name] = max(self.values[name], psutil.Process(pid).memory_info().rss)
                except psutil.Error:
                    pass

    def stop(self) -> dict[str, int]:
        """Stop sampling; the peaks in bytes, by name."""
        self._stopped.set()
        self._thread.join()
        return self.values

    def mib(self) -> dict[str, int]:
        """The peaks in MiB, by name."""
        return {name: value >> 20 for name, value in self.values.items()}
