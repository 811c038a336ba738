"""AppBundle: the app's code bundle for remote agents, built once, in the background, when first needed."""

from __future__ import annotations

import asyncio
from typing import Callable

import structlog

from lightning_ctl.controlplane.agents.bundles import Bundle, build_bundle

log = structlog.get_logger(component="app_bundle")

BUILD_ATTEMPTS = 3
"""Builds tried before a bundle counts as failed: a file rewritten while it is read makes one build fail."""


def build_settled(app_file: str) -> Bundle:
    """:func:`build_bundle`, tried again when the folder changed under it (an OSError while reading a file)."""
    for attempt in range(1, BUILD_ATTEMPTS):
        try:
            return build_bundle(app_file)
        except OSError as exc:
            log.warning("bundle_build_retried", error=str(exc), attempt=attempt)
    return build_bundle(app_file)


class AppBundle:
    """Builds the bundle of the app file's folder on first request (off the event loop) and keeps it."""

    def __init__(self, app_file: str) -> None:
        self._app_file = app_file
        self.built: Bundle | None = None
        self._error: str | None = None
        self._building: asyncio.Future[Bundle] | None = None
        self._waiters: list[Callable[[], None]] = []

    def request(self, on_ready: Callable[[], None]) -> Bundle | str:
        """The bundle, or why it is not available yet (``on_ready`` is called once it is built)."""
        if self.built is not None:
            return self.built
        if self._error is not None:
            return self._error
        if on_ready not in self._waiters:  # once each: a thousand waiting works share one retry of the registry
            self._waiters.append(on_ready)
        if self._building is None:
            self._building = asyncio.get_running_loop().run_in_executor(None, build_settled, self._app_file)
            self._building.add_done_callback(self._done)
        return "preparing the app's code bundle for remote agents"

    def _done(self, future: asyncio.Future[Bundle]) -> None:
        try:
            self.built = future.result()
            log.info("bundle_built", digest=self.built.digest[:12], bytes=len(self.built.data),
                     files=self.built.file_count)
        except Exception as exc:  # noqa: BLE001 - shown as the pending reason of every remote work
            self._error = f"cannot ship the app's code: {exc}"
            log.error("bundle_failed", error=str(exc))
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter()
