"""Run by TracerPythonScript: prints, and leaves ``answer`` in its globals."""

import os
import sys

print("HELLO", sys.argv[1:], os.environ.get("GREETING"), flush=True)
answer = {"argv": sys.argv[1:], "greeting": os.environ.get("GREETING")}
