"""``python -m lightning_ctl.agent``: the same as ``lightning-agent``."""

from lightning_ctl.agent.cli import main

main()
