"""CliConfig: the settings every operating command shares, and where client errors become exit codes.

Built once by the root group: where the app is, its token, timeouts.

Where the app is, by precedence: ``--address`` (on the command or before it), ``LIGHTNING_CTL_ADDRESS``, then the
run file of the app running on this machine (``~/.lightning-ctl/run.json``). The token: ``--token``,
``LIGHTNING_CTL_TOKEN``, the run file's, then ``~/.lightning-ctl/token`` (what ``run`` uses by default).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

import click

from lightning_ctl.sdk._exit_codes import ExitCode

if TYPE_CHECKING:
    from lightning_ctl.controlplane.api.client import AppClient, Target
    from lightning_ctl.controlplane.run_file import RunInfo

T = TypeVar("T")


EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 the operation failed; 2 usage error (or a WORK that names no work or "
    "several); 3 cannot reach the control plane (or no app is running here); 4 the control plane "
    "refused the token; 130 interrupted (Ctrl-C)."
)


class CliError(click.ClickException):
    """A command failed: one line on stderr and ``exit_code``."""

    def __init__(self, message: str, exit_code: int = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click types it a ClassVar; each CliError has its own


@dataclass(frozen=True)
class CliConfig:
    """Settings shared by the operating commands (status, state, logs, stop, agents)."""

    address: str | None = None
    """HOST:PORT of the control plane; None to use the run file."""
    token: str | None = None
    timeout_s: float = 10.0
    """Deadline of each call, in seconds."""
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    log_format: str = "console"
    log_level: str = "info"
    run_dir: Path | None = None
    """Where run files are (default ``~/.lightning-ctl``)."""

    def with_overrides(self, **values: Any) -> CliConfig:
        """A copy with the values that were given (not None)."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})

    def target(self) -> Target:
        """Where the app is and its token.

        Raises:
            CliError: no app is running on this machine (exit 3), or no token is known (exit 2).
        """
        from lightning_ctl.controlplane.api.client import Target

        ca, cert, key = (Path(p).read_bytes() if p else None for p in (self.tls_ca, self.tls_cert, self.tls_key))
        if self.address:
            token = self.token_for(self.address, lambda run: run.address == self.address)
            return Target(self.address, token, tls_ca=ca, tls_cert=cert, tls_key=key)
        run = self.running_app()
        return Target(run.address, self.token or run.token, tls_ca=ca, tls_cert=cert, tls_key=key, pid=run.pid)

    def token_for(self, where: str, is_that_app: Callable[[RunInfo], bool]) -> str:
        """The token to present to the app at ``where``.

        ``--token``, else that of the app running here for which ``is_that_app`` holds, else the operator's
        token file.

        Raises:
            CliError: no token is known (exit 2).
        """
        from lightning_ctl.controlplane.home import token_file
        from lightning_ctl.controlplane.run_file import live_runs

        same = [run.token for run in live_runs(self.run_dir) if is_that_app(run)]
        token = self.token or (same[0] if same else _read_token(token_file()))
        if not token:
            raise CliError(f"no token for {where}: pass --token or set LIGHTNING_CTL_TOKEN", ExitCode.USAGE)
        return token

    def running_app(self) -> RunInfo:
        """The run file of the app running on this machine.

        Raises:
            CliError: no app is running here (exit 3).
        """
        from lightning_ctl.controlplane.errors import NoRunningAppError
        from lightning_ctl.controlplane.run_file import find_running_app

        try:
            return find_running_app(self.run_dir)
        except NoRunningAppError as exc:
            raise CliError(str(exc), ExitCode.UNREACHABLE) from None


def is_app_running(config: CliConfig) -> bool:
    """Whether an app is running on this machine (one the operating commands would reach without --address)."""
    try:
        config.target()
    except CliError as exc:
        if exc.exit_code == ExitCode.UNREACHABLE:
            return False
        raise
    return True


def _read_token(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


pass_config = click.make_pass_decorator(CliConfig, ensure=True)


def connection_options(envvars: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--address``, ``--token`` and ``--timeout`` (read from the environment too when ``envvars``)."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option(
                "--address",
                metavar="HOST:PORT",
                default=None,
                envvar="LIGHTNING_CTL_ADDRESS" if envvars else None,
                show_envvar=envvars,
                help="The control plane to talk to (default: the app running on this machine).",
            ),
            click.option(
                "--token",
                default=None,
                envvar="LIGHTNING_CTL_TOKEN" if envvars else None,
                show_envvar=envvars,
                help="Its token (default: the running app's, or ~/.lightning-ctl/token).",
            ),
            click.option(
                "--timeout",
                "timeout_s",
                type=click.FloatRange(min=0.1),
                default=None,
                metavar="SECONDS",
                help="Deadline of each call  [default: 10].",
            ),
        ]
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def operating_command(function: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command the connection options (overriding the root group's) and its CliConfig as first argument."""

    @connection_options(envvars=False)
    @pass_config
    @functools.wraps(function)
    def command(
        config: CliConfig, address: str | None, token: str | None, timeout_s: float | None, **kwargs: Any
    ) -> Any:
        return function(config.with_overrides(address=address, token=token, timeout_s=timeout_s), **kwargs)

    return command


def call_app(
    config: CliConfig, action: Callable[[Any], Awaitable[T]], target: Target | None = None,
    client_class: type[AppClient] | None = None,
) -> T:
    """Run ``action`` with a client of the app (``target``, or the config's).

    Client errors become CliErrors with their exit code.

    Ctrl-C exits 130 quietly; a closed stdout (``| head``) ends the command quietly.

    Args:
        config: The command's settings.
        action: Given the client, what to do.
        target: The app to reach (default: the config's).
        client_class: An AppClient subclass that speaks more services (default: AppClient).
    """
    from lightning_ctl.controlplane.api.client import AppClient, ClientError

    target = target or config.target()

    async def main() -> T:
        async with (client_class or AppClient)(target, config.timeout_s) as client:
            return await action(client)

    try:
        return asyncio.run(main())
    except ClientError as exc:
        raise CliError(str(exc), exc.exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(ExitCode.INTERRUPTED) from None
    except BrokenPipeError:
        _silence_stdout()
        raise SystemExit(0) from None


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so that Python's exit flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def echo(text: str) -> None:
    """Write ``text`` and a newline to stdout, at once (data goes to stdout; messages to stderr)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def complete_work_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of WORK: the running app's work names (full, and short where unambiguous)."""
    from click.shell_completion import CompletionItem

    from lightning_ctl.controlplane.api.names import resolve_work_name
    from lightning_ctl.sdk._logging import configure_logging

    configure_logging("console", "error")  # nothing but completions may reach the shell
    root = ctx.find_root()
    config = CliConfig(timeout_s=1.0).with_overrides(
        address=ctx.params.get("address")
        or root.params.get("address")
        or os.environ.get("LIGHTNING_CTL_ADDRESS"),
        token=ctx.params.get("token") or root.params.get("token") or os.environ.get("LIGHTNING_CTL_TOKEN"),
    )
    try:
        app = call_app(config, lambda client: client.status())
    except (Exception, SystemExit):  # noqa: BLE001 - completion must never fail the shell
        return []
    names = [work.work_name for work in app.works]
    suggestions = []
    for name in names:
        short = name.rsplit(".", 1)[-1]
        try:
            unique = resolve_work_name(short, names) == name
        except Exception:  # noqa: BLE001 - ambiguous: offer the full name only
            unique = False
        for candidate in (short, name) if unique else (name,):
            if candidate.startswith(incomplete) and candidate not in suggestions:
                suggestions.append(candidate)
    return [CompletionItem(s) for s in suggestions]
