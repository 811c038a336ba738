"""``lightning-ctl stop``: end the app as ``flow.stop()`` does, and wait for it to be gone."""

from __future__ import annotations

import asyncio
import time

import click

from lightning_ctl.controlplane.cli.config import (
    EXIT_CODES_HELP,
    CliConfig,
    CliError,
    call_app,
    operating_command,
)

_POLL_S = 0.1


def _process_gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.option("--reason", default="", help="Shown by the app's `lightning-ctl run` as it ends.")
@click.option(
    "--no-wait", is_flag=True, help="Return once the app accepted the stop, without waiting for its end."
)
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0),
    default=120.0,
    show_default=True,
    metavar="SECONDS",
    help="How long to wait for the app to end (works get their stop grace period first).",
)
@operating_command
def stop(config: CliConfig, reason: str, no_wait: bool, wait_timeout: float) -> None:
    """Stop the app gracefully, exactly as a flow calling ``self.stop()`` would.

    Every work gets SIGTERM (its on_exit runs), then SIGKILL after the app's --stop-grace; the app's
    `lightning-ctl run` exits with status 0. By default this waits until the app is gone.

    \b
    Examples:
      lightning-ctl stop
      lightning-ctl stop --reason "maintenance" --no-wait
    """
    from lightning_ctl.controlplane.api.client import AppClient, ClientError

    target = config.target()

    async def stop_and_wait(client: AppClient) -> bool:
        await client.stop(reason)
        if no_wait:
            return True
        deadline = time.monotonic() + wait_timeout
        while time.monotonic() < deadline:
            if target.pid:
                if _process_gone(target.pid):
                    return True
            else:
                try:
                    await client.status()
                except ClientError:
                    return True  # unreachable, or "the app has ended"
            await asyncio.sleep(_POLL_S)
        return False

    if not call_app(config, stop_and_wait, target):
        raise CliError(f"the app did not end within {wait_timeout:g} s (its works may still be stopping)")
    click.echo("stop requested" if no_wait else "the app stopped", err=True)
