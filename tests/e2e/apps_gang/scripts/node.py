"""Run on each node of a MultiNode of PopenPythonScript: prints what the node's environment says."""

import os

print("SCRIPT_NODE", os.environ["NODE_RANK"], os.environ["MASTER_ADDR"], os.environ["WORLD_SIZE"], flush=True)
