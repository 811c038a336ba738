"""``lightning-ctl``: run Lightning-style apps on a control plane, and operate the one running.

Exit codes: 0 ok; 1 the app (or the operation) failed; 2 usage error; 3 cannot reach the control plane; 4 the
control plane refused the token; 130 stopped by Ctrl-C; 143 by SIGTERM.
"""

from __future__ import annotations

import click

from lightning_ctl.controlplane.cli.agents import agents
from lightning_ctl.controlplane.cli.command import command, view
from lightning_ctl.controlplane.cli.config import CliConfig, connection_options
from lightning_ctl.controlplane.cli.cp import cp
from lightning_ctl.controlplane.cli.logs import logs
from lightning_ctl.controlplane.cli.ls import ls
from lightning_ctl.controlplane.cli.open import open_work
from lightning_ctl.controlplane.cli.run import run
from lightning_ctl.controlplane.cli.state import state
from lightning_ctl.controlplane.cli.status import status
from lightning_ctl.controlplane.cli.stop import stop

EPILOG = """\b
Exit codes: 0 ok; 1 the app or the operation failed; 2 usage error; 3 cannot reach the control plane (or no app
is running on this machine); 4 the control plane refused the token; 130 Ctrl-C; 143 SIGTERM (run).

\b
On the machine running an app, status/state/logs/stop/agents find it with no flags (through
~/.lightning-ctl/run.json, owner-only); --address HOST:PORT and --token reach any app.

\b
Shell completion (commands, options, and the running app's work names):
  bash: eval "$(_LIGHTNING_CTL_COMPLETE=bash_source lightning-ctl)"   # in ~/.bashrc
  zsh:  eval "$(_LIGHTNING_CTL_COMPLETE=zsh_source lightning-ctl)"    # in ~/.zshrc
  fish: _LIGHTNING_CTL_COMPLETE=fish_source lightning-ctl | source     # in ~/.config/fish/completions/lightning-ctl.fish
"""

_LOG_LEVELS = ["debug", "info", "warning", "error"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(package_name="lightning-ctl")
@connection_options(envvars=True)
@click.option(
    "--tls-ca",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Reach a control plane serving TLS, trusting this CA (PEM).",
)
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="This client's certificate (PEM), for a control plane requiring mutual TLS.",
)
@click.option(
    "--tls-key", type=click.Path(exists=True, dir_okay=False), default=None, help="Its private key (PEM)."
)
@click.option(
    "--log-format",
    type=click.Choice(["console", "json"]),
    default="console",
    show_default=True,
    help="How lightning-ctl's own logs are written (on stderr).",
)
@click.option("--log-level", type=click.Choice(_LOG_LEVELS), default="info", show_default=True)
@click.pass_context
def main(
    ctx: click.Context,
    address: str | None,
    token: str | None,
    timeout_s: float | None,
    tls_ca: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    log_format: str,
    log_level: str,
) -> None:
    """Run Lightning-style apps (the control plane runs the flows; agents run the works), and operate them.

    \b
    lightning-ctl run APP_FILE      run an app until it ends
    lightning-ctl status            its stage, works and agents
    lightning-ctl state [--watch]   its state
    lightning-ctl logs [WORK]... -f its works' output
    lightning-ctl stop              end it as flow.stop() does
    lightning-ctl agents            the agents and their resources
    lightning-ctl view              a login link to its dashboard (/view)
    lightning-ctl open WORK         a serving work's URL through the app's address (/works/<name>/)
    lightning-ctl command NAME      one of its commands (configure_commands)
    lightning-ctl ls [lit://DRIVE | WORK]             the app's Drives and persisted files
    lightning-ctl cp lit://DRIVE/PATH | WORK:PATH DEST  copy them to this machine
    """
    ctx.obj = CliConfig(
        address=address,
        token=token,
        tls_ca=tls_ca,
        tls_cert=tls_cert,
        tls_key=tls_key,
        log_format=log_format,
        log_level=log_level,
    ).with_overrides(timeout_s=timeout_s)
    if ctx.invoked_subcommand == "run":
        # `run` has its own --log-format/--log-level; given before it, they become its defaults.
        given = {
            name: value
            for name, value in (("log_format", log_format), ("log_level", log_level))
            if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT
        }
        if given:
            ctx.default_map = {
                **(ctx.default_map or {}),
                "run": {**(ctx.default_map or {}).get("run", {}), **given},
            }
        return
    if not ctx.resilient_parsing:
        from lightning_ctl.sdk._logging import configure_logging

        configure_logging(log_format, log_level)


for _command in (run, status, state, logs, stop, agents, command, view, open_work, ls, cp):
    main.add_command(_command)
