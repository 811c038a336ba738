"""``python -m lightning_ctl.controlplane``: the ``lightning-ctl`` command, in this interpreter."""

from lightning_ctl.controlplane.cli import main

main(prog_name="lightning-ctl")
