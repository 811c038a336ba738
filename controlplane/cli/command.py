"""``lightning-ctl command NAME [--ARG VALUE ...]`` and ``lightning-ctl view``.

``command`` runs one of the app's configure_commands, ``view`` prints a new login link to the dashboard: both
talk to the app's HTTP server with the operator's token.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click

from lightning_ctl.controlplane.cli.config import CliConfig, CliError, echo, operating_command
from lightning_ctl.sdk._exit_codes import ExitCode

_TIMEOUT_S = 30.0
_URL_HELP = "The app's HTTP server, e.g. http://127.0.0.1:7501 (default: the app running on this machine)."


def http_target(config: CliConfig, url: str | None) -> tuple[str, str]:
    """The app's HTTP base URL and the token to present.

    Raises:
        CliError: no app runs here (exit 3), it serves no HTTP, or no token is known (exit 2).
    """
    if url:
        url = url.rstrip("/")
        return url, config.token_for(url, lambda run: run.http_url == url)
    run = config.running_app()
    if not run.http_url:
        raise CliError(f"the app running here (pid {run.pid}) serves no HTTP (it was started with --no-http)",
                       ExitCode.USAGE)
    return run.http_url, config.token or run.token


def http_call(url: str, token: str, method: str, path: str, timeout_s: float, body: Any = None) -> Any:
    """``method path`` on the app's server; its JSON answer. HTTP errors become CliErrors with the CLI's exit code."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        detail = _detail(exc.read())
        if exc.code in (401, 403):
            raise CliError(f"the app at {url} refused the token: {detail}", ExitCode.AUTH_REFUSED) from None
        if exc.code in (404, 405, 422):
            raise CliError(f"{method} {path}: {detail}", ExitCode.USAGE) from None
        raise CliError(f"{method} {path} failed ({exc.code}): {detail}", ExitCode.FAILED) from None
    except (urllib.error.URLError, OSError) as exc:
        raise CliError(f"cannot reach the app at {url}: {getattr(exc, 'reason', exc)}", ExitCode.UNREACHABLE) from None


def _detail(raw: bytes) -> str:
    try:
        detail = json.loads(raw).get("detail")
    except (ValueError, AttributeError):
        return raw.decode(errors="replace")[:500]
    return detail if isinstance(detail, str) else json.dumps(detail)


def parse_command_args(args: tuple[str, ...]) -> dict[str, str]:
    """``("--name", "x", "--flag", "--k=v")`` as ``{"name": "x", "flag": "true", "k": "v"}``.

    Raises:
        click.UsageError: an argument that is not ``--NAME``.
    """
    values: dict[str, str] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("--") or len(arg) == 2:
            raise click.UsageError(f"expected --NAME VALUE, got {arg!r}")
        name, sep, value = arg[2:].partition("=")
        if not sep:
            following = args[index + 1] if index + 1 < len(args) else None
            if following is None or following.startswith("--"):
                value = "true"
            else:
                value, index = following, index + 1
        values[name.replace("-", "_")] = value
        index += 1
    return values


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                 "help_option_names": ["-h", "--help"]})
@click.argument("name", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--url", envvar="LIGHTNING_CTL_URL", default=None, help=_URL_HELP)
@operating_command
def command(config: CliConfig, name: str | None, args: tuple[str, ...], url: str | None) -> None:
    """Run one of the app's commands (configure_commands); with no NAME, list them.

    \b
    lightning-ctl command add_item --name first
    lightning-ctl command                         # the app's commands and their arguments

    Exit codes: 0 ok; 1 the command failed; 2 usage error (no such command, a bad argument); 3 cannot reach the
    app; 4 the app refused the token.
    """
    base, token = http_target(config, url)
    if name is None:
        spec = http_call(base, token, "GET", "/openapi.json", config.timeout_s)
        for path, operations in spec["paths"].items():
            for operation in operations.values():
                if "app_command" in operation.get("tags", []):
                    params = " ".join(f"--{p['name']} VALUE" for p in operation.get("parameters", []))
                    echo(f"{path.removeprefix('/command/')} {params}".rstrip())
        return
    query = urllib.parse.urlencode(parse_command_args(args))
    path = f"/command/{urllib.parse.quote(name.replace(' ', '_'))}" + (f"?{query}" if query else "")
    echo(json.dumps(http_call(base, token, "POST", path, max(config.timeout_s, _TIMEOUT_S))))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", envvar="LIGHTNING_CTL_URL", default=None, help=_URL_HELP)
@click.option("--open", "open_browser", is_flag=True, help="Open it in the browser too.")
@operating_command
def view(config: CliConfig, url: str | None, open_browser: bool) -> None:
    """Print a new one-time login link to the app's dashboard (/view).

    Exit codes: 0 ok; 2 the app serves no HTTP; 3 cannot reach the app; 4 the app refused the token.
    """
    base, token = http_target(config, url)
    link = http_call(base, token, "POST", "/api/v1/login-links", config.timeout_s)["url"]
    echo(link)
    if open_browser:
        import webbrowser

        webbrowser.open(link)
