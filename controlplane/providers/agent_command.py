"""The ``lightning-agent`` command line every engine runs, less what only the engine knows.

The engine knows the node's GPUs, CPUs, memory, the agent's name and state folder, which the job's environment
gives.

The agent carries the work's labels (so placement sends the work there), stops its works when the engine stops it
(SIGTERM on preemption, cancellation or a time limit: the works' exits reach the control plane and their restart
policy decides), and joins with its request's one-time join token, which travels in ``LIGHTNING_AGENT_JOIN_TOKEN``,
never on a command line. That token is scoped to the request: the control plane knows which request an agent
answers from the credential it joined with, not from anything the agent says.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from pathlib import Path

from lightning_ctl.controlplane.providers.base import AgentSpec
from lightning_ctl.sdk._cli_values import CREDENTIAL_VARIABLES

TOKEN_VARIABLE = "LIGHTNING_AGENT_JOIN_TOKEN"


def default_agent_executable() -> str:
    """The ``lightning-agent`` beside this interpreter (the same installation), else the one on PATH."""
    beside = Path(sys.executable).parent / "lightning-agent"
    if beside.exists():
        return str(beside)
    return shutil.which("lightning-agent") or "lightning-agent"


def common_agent_args(spec: AgentSpec, control_plane: str, stop_grace_s: float,
                      tls_ca: str = "") -> tuple[str, ...]:
    """The arguments every provider passes to ``lightning-agent``."""
    args = ["--control-plane", control_plane]
    for key, value in sorted(spec.resources.labels.items()):
        args += ["--labels", f"{key}={value}"]
    args += ["--stop-works-on-exit", "--stop-grace", f"{stop_grace_s:g}", "--log-format", "json"]
    if tls_ca:
        args += ["--tls-ca", tls_ca]
    return tuple(args)


def whole_cpus(spec: AgentSpec) -> int:
    """The CPUs to ask an engine for: the work's, rounded up (engines count whole CPUs), at least 1."""
    return max(1, math.ceil(spec.resources.cpus))


def memory_mebibytes(spec: AgentSpec) -> int:
    """The memory to ask an engine for, in MiB rounded up; 0 when the work asks for none."""
    return math.ceil(spec.resources.memory_bytes / 2**20)


def agent_environment(join_token: str) -> dict[str, str]:
    """This process's environment without its credentials, plus the agent's one-time join token.

    The credentials left out are the operator's token and a fixed join token; the result is what the engine's
    submit command passes on to the job.
    """
    kept = {name: value for name, value in os.environ.items() if name not in CREDENTIAL_VARIABLES}
    return {**kept, TOKEN_VARIABLE: join_token}
