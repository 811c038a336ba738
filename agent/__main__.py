"""``python -m agent``: the same as ``lightning-agent``."""

from agent.cli import main

main()
