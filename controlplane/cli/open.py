"""``lightning-ctl open WORK``: the address of a serving work through the app's HTTP server (or its own URL)."""

from __future__ import annotations

import urllib.parse

import click

from lightning_ctl.controlplane.cli.command import http_call, http_target
from lightning_ctl.controlplane.cli.config import (
    EXIT_CODES_HELP,
    CliConfig,
    CliError,
    call_app,
    complete_work_names,
    echo,
    operating_command,
)
from lightning_ctl.sdk._exit_codes import ExitCode


@click.command("open", context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES_HELP)
@click.argument("work", metavar="WORK", shell_complete=complete_work_names)
@click.option("--direct", is_flag=True,
              help="The work's own URL (http://<internal_ip>:<port>, reachable where its agent's network is) rather "
                   "than the app's address for it.")
@click.option("--browser", is_flag=True,
              help="Open it in the browser too, logged in (through a one-time login link that lands on it).")
@operating_command
def open_work(config: CliConfig, work: str, direct: bool, browser: bool) -> None:
    """Print the URL of WORK's server through the app's HTTP address: http://<app>/works/<work name>/.

    The same credentials as the rest of the app's HTTP server open it (the browser's login, or
    Authorization: Bearer <token>). WORK is a full name like root.server, or an unambiguous suffix like server.

    \b
    Examples:
      lightning-ctl open server
      curl -H "Authorization: Bearer $(cat ~/.lightning-ctl/token)" "$(lightning-ctl open server)predict"
      lightning-ctl open server --browser
    """
    from lightning_ctl.controlplane.api.names import WorkNameError, resolve_work_names

    app = call_app(config, lambda client: client.status())
    try:
        (name,) = resolve_work_names((work,), [w.work_name for w in app.works])
    except WorkNameError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None
    found = next(w for w in app.works if w.work_name == name)
    if not found.url:
        why = f" ({found.message})" if found.message else ""
        raise CliError(f"work {name} is not serving: its port does not accept connections yet{why}", ExitCode.FAILED)
    if direct:
        echo(found.url)
        return
    if not found.proxy_url:
        raise CliError(f"the app serves no HTTP (started with --no-http): work {name} is at {found.url} only",
                       ExitCode.FAILED)
    echo(found.proxy_url)
    if browser:
        import webbrowser

        base, token = http_target(config, None)
        link = http_call(base, token, "POST", "/api/v1/login-links", config.timeout_s)["url"]
        path = urllib.parse.urlsplit(found.proxy_url).path
        webbrowser.open(f"{link}&next={urllib.parse.quote(path)}")
