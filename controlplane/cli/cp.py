"""``lightning-ctl cp``: copy a Drive's files, or a work's persisted Path or Payload, to this machine."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

import click

from lightning_ctl.controlplane.cli.config import (
    EXIT_CODES_HELP,
    CliConfig,
    CliError,
    operating_command,
)
from lightning_ctl.controlplane.cli.store_access import (
    APP_OPTION,
    DriveTarget,
    parse_target,
    resolve_work,
    with_store,
)
from lightning_ctl.controlplane.storage.reader import StoreReader, copy_out, drive_entries, find_artifact
from lightning_ctl.sdk._exit_codes import ExitCode

PROGRESS_MIN_BYTES = 8 << 20
"""Copies at least this large show a progress bar (on a terminal)."""


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.argument("source", metavar="lit://DRIVE/PATH | WORK:PATH")
@click.argument("destination", type=click.Path(), metavar="LOCAL_PATH")
@click.option("--component", default="", metavar="NAME",
              help="Take a Drive's PATH from this component's part (needed when several components put it).")
@APP_OPTION
@operating_command
def cp(config: CliConfig, source: str, destination: str, component: str, app_file: str | None) -> None:
    """Copy a Drive's file or folder, or a work's persisted Path (or Payload), to LOCAL_PATH.

    A LOCAL_PATH that is a folder receives the copy under the source's name. The copy appears whole or not at all
    (an interrupted cp resumes where it stopped) and is verified against its sha256. While the app runs, a Path its
    running work has not persisted yet is handed over by the work's agent; after the app ended, cp reads its store.

    \b
    Examples:
      lightning-ctl cp lit://datasets/train.csv .
      lightning-ctl cp trainer:checkpoints/last.ckpt ./last.ckpt
      lightning-ctl cp --app train.py root.trainer:metrics.json /tmp/
    """
    parsed = parse_target(source)
    if not isinstance(parsed, DriveTarget) and not parsed.name:
        raise CliError(f"{source!r}: expected WORK:PATH (or lit://DRIVE/PATH)", ExitCode.USAGE)
    show_progress = sys.stderr.isatty()

    async def copy(reader: StoreReader) -> str:
        if isinstance(parsed, DriveTarget):
            files = await reader.drive_files(parsed.drive_id, component, parsed.path)
            components = sorted({f.component for f in files})
            if not files:
                raise CliError(f"{source} is not in the store ({reader.description})")
            if len(components) > 1:
                raise CliError(f"several components put {source}: {', '.join(components)}; pass --component",
                               ExitCode.USAGE)
            is_dir, entries = drive_entries(files, parsed.path)
            dirs: tuple[str, ...] = ()
            name = parsed.path if parsed.path != "." else parsed.drive_id
        else:
            work = resolve_work(parsed.work, await reader.artifact_works())
            artifact = await find_artifact(reader, work, parsed.name)
            is_dir, entries, dirs, name = artifact.is_dir, list(artifact.files), artifact.dirs, parsed.name
        target = _local_target(destination, name)
        total = sum(entry.size for entry in entries)
        with _progress(show_progress and total >= PROGRESS_MIN_BYTES, total, os.path.basename(target)) as advance:
            await copy_out(reader, is_dir, entries, dirs, target, advance)
        return target

    written = with_store(config, app_file, copy)
    click.echo(f"copied {source} to {written}", err=True)


def _local_target(destination: str, name: str) -> str:
    """Where the copy goes: ``destination``, or inside it when it is a folder (or ends with /)."""
    base = os.path.basename(name.rstrip("/")) or name
    if destination.endswith(os.sep) or os.path.isdir(destination):
        return os.path.abspath(os.path.join(destination, base))
    return os.path.abspath(destination)


@contextlib.contextmanager
def _progress(shown: bool, total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr (or nothing): the function that advances it by a number of bytes."""
    if not shown:
        yield lambda count: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update
