"""Run by PopenPythonScript: fails with status 3."""

print("ABOUT TO FAIL", flush=True)
raise SystemExit(3)
