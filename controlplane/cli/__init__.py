"""``lightning-ctl``: run Lightning-style apps on a control plane.

Exit codes: 0 ok; 1 the app (or the operation) failed; 2 usage error; 130 stopped by Ctrl-C; 143 by SIGTERM.
"""

from __future__ import annotations

import click

from controlplane.cli.run import run


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lightning-ctl")
def main() -> None:
    """Run Lightning-style apps: the control plane runs the flows; agents run the works.

    Exit codes: 0 ok; 1 the app failed; 2 usage error; 130 stopped by Ctrl-C; 143 stopped by SIGTERM.
    """


main.add_command(run)
