"""What ``ls`` and ``cp`` share: reaching the app's store, naming what is in it, and their exit codes.

The store is reached through the running app's control plane, or on this machine once the app ended; what is
in it is named ``lit://DRIVE/PATH`` or ``WORK:PATH``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import click

from lightning_ctl.controlplane.cli.config import (
    CliConfig,
    CliError,
    call_app,
    is_app_running,
)
from lightning_ctl.sdk._exit_codes import ExitCode

if TYPE_CHECKING:
    from lightning_ctl.controlplane.storage.reader import StoreReader

T = TypeVar("T")
DRIVE_PREFIX = "lit://"

APP_OPTION = click.option(
    "--app", "app_file", type=click.Path(dir_okay=False), default=None, metavar="APP_FILE",
    help="Read the store of this app (default: the app running here, else the app run last on this machine).")


@dataclass(frozen=True)
class DriveTarget:
    """``lit://DRIVE[/PATH]``."""

    drive_id: str
    path: str
    """"." for the whole Drive."""


@dataclass(frozen=True)
class WorkTarget:
    """``WORK[:NAME]``: a work (its artifacts), or one of its Paths or Payloads."""

    work: str
    name: str
    """"" for the work itself."""


def parse_target(text: str) -> DriveTarget | WorkTarget:
    """What ``text`` names in the store.

    Raises:
        click.BadParameter: an empty Drive name, or an unsafe path.
    """
    if text.startswith(DRIVE_PREFIX):
        from lightning_ctl.sdk._drive import normalize_drive_path

        drive_id, _, path = text[len(DRIVE_PREFIX):].partition("/")
        if not drive_id:
            raise click.BadParameter(f"{text!r}: expected lit://DRIVE[/PATH]")
        try:
            return DriveTarget(drive_id, normalize_drive_path(path or "."))
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    work, _, name = text.partition(":")
    return WorkTarget(work, name)


def resolve_work(pattern: str, known: list[str]) -> str:
    """The work ``pattern`` names among the works with files in the store (exit 2 when none or several)."""
    from lightning_ctl.controlplane.api.names import resolve_work_name
    from lightning_ctl.controlplane.errors import WorkNameError

    try:
        return resolve_work_name(pattern, known)
    except WorkNameError as exc:
        raise CliError(f"{exc} (works with files in the store)", ExitCode.USAGE) from None


def with_store(config: CliConfig, app_file: str | None, action: Callable[[StoreReader], Awaitable[T]]) -> T:
    """Run ``action`` with a reader of the store.

    The running app's (through its control plane, so that works still running can hand over what they have not
    persisted yet), or else the ended app's store itself.

    Errors become CliErrors with their exit code (3: no app here and none ran; 1: not in the store).
    """
    from lightning_ctl.controlplane.errors import StoreError

    async def guarded(reader: StoreReader) -> T:
        try:
            return await action(reader)
        except StoreError as exc:
            raise CliError(str(exc), ExitCode.FAILED) from None

    if app_file is None and (config.address or is_app_running(config)):
        from lightning_ctl.controlplane.api.storage_client import StorageClient

        return call_app(config, guarded, client_class=StorageClient)
    reader = _ended_app_store(app_file)
    try:
        return asyncio.run(guarded(reader))
    except KeyboardInterrupt:
        raise SystemExit(ExitCode.INTERRUPTED) from None


def _ended_app_store(app_file: str | None) -> StoreReader:
    from lightning_ctl.controlplane.output.past_logs import NoPastRunError, last_run
    from lightning_ctl.controlplane.storage import recorded_store
    from lightning_ctl.controlplane.storage.reader import LocalStoreReader
    from lightning_ctl.sdk.errors import MisconfigurationException

    try:
        run = last_run(app_file)
        store = recorded_store(run.folder)
    except NoPastRunError as exc:
        raise CliError(str(exc), ExitCode.UNREACHABLE) from None
    except MisconfigurationException as exc:
        raise CliError(str(exc), ExitCode.FAILED) from None
    click.echo(f"{run.app_path} is not running: reading its store ({store.description})", err=True)
    return LocalStoreReader(store)
