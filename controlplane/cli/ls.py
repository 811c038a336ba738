"""``lightning-ctl ls``: what the app's store holds: its Drives, and the files works persisted."""

from __future__ import annotations

from typing import Any

import click

from lightning_ctl.controlplane.cli.config import (
    EXIT_CODES_HELP,
    CliConfig,
    CliError,
    echo,
    operating_command,
)
from lightning_ctl.controlplane.cli.render import dumps, format_bytes, iso_time, table
from lightning_ctl.controlplane.cli.store_access import (
    APP_OPTION,
    DRIVE_PREFIX,
    DriveTarget,
    parse_target,
    resolve_work,
    with_store,
)
from lightning_ctl.controlplane.storage.reader import StoreReader


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.argument("target", required=False, metavar="[lit://DRIVE[/PATH] | WORK]")
@click.option("--component", default="", metavar="NAME", help="Only this component's part of the Drive.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")
@APP_OPTION
@operating_command
def ls(config: CliConfig, target: str | None, component: str, as_json: bool, app_file: str | None) -> None:
    """List the app's Drives and persisted files.

    With no argument: the Drives, and the works that persisted Paths or Payloads. lit://DRIVE[/PATH]: the files of a
    Drive (each with the component that put it). WORK (a full name or an unambiguous suffix): the Paths and Payloads
    that work persisted. While the app runs this asks its control plane; after it ended, its store (on this
    machine, or at its --storage URL).

    \b
    Examples:
      lightning-ctl ls
      lightning-ctl ls lit://datasets
      lightning-ctl ls trainer --json
    """
    parsed = parse_target(target) if target else None

    async def listing(reader: StoreReader) -> Any:
        if parsed is None:
            return {"drives": await reader.drive_ids(), "works": await reader.artifact_works()}
        if isinstance(parsed, DriveTarget):
            files = await reader.drive_files(parsed.drive_id, component, parsed.path)
            if not files:
                raise CliError(f"no files under {target} (in {reader.description})")
            return files
        work = resolve_work(parsed.work, await reader.artifact_works())
        return work, await reader.artifacts(work)

    found = with_store(config, app_file, listing)
    if parsed is None:
        echo(dumps(found) if as_json else _overview(found))
    elif isinstance(parsed, DriveTarget):
        rows = [{"component": f.component, "path": f.path, "size": f.size, "sha256": f.digest, "put_at": f.put_at}
                for f in found]
        echo(dumps(rows) if as_json else table(
            ["COMPONENT", "PATH", "SIZE", "PUT"],
            [(r["component"], r["path"], format_bytes(r["size"]), iso_time(r["put_at"])) for r in rows], right=(2,)))
    else:
        work, artifacts = found
        rows = [{"work": work, "kind": a.kind, "name": a.name, "is_dir": a.is_dir, "size": a.size,
                 "files": len(a.files), "persisted_at": a.persisted_at} for a in artifacts]
        echo(dumps(rows) if as_json else table(
            ["KIND", "NAME", "SIZE", "FILES", "PERSISTED"],
            [(r["kind"] + ("/" if r["is_dir"] else ""), r["name"], format_bytes(r["size"]), r["files"],
              iso_time(r["persisted_at"])) for r in rows], right=(2, 3)))


def _overview(found: dict[str, list[str]]) -> str:
    lines = ["DRIVES", *(f"  {DRIVE_PREFIX}{d}" for d in found["drives"])]
    if not found["drives"]:
        lines.append("  (none)")
    lines.append("WORKS WITH FILES")
    lines.extend(f"  {w}" for w in found["works"])
    if not found["works"]:
        lines.append("  (none)")
    return "\n".join(lines)
