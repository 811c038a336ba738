"""Fault tests: real ``lightning-ctl`` / ``lightning-agent`` processes SIGKILLed, SIGSTOPped, partitioned and put
behind a lossy link (``tests.helpers.proxy``), judged by what the app reports, the logs and the process table.

The harness lives in ``tests/helpers``: ``fault_cluster`` (the ``faults`` fixture), ``streams`` (the app in
``apps/streams.py``, its knobs and checks), ``logs`` (reading log lines) and ``processes`` (process identity).
"""
