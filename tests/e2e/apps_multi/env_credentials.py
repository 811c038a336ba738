"""A work that reports its whole environment (to prove no operator or agent credential reached it), whether its
agent and fork server hold its API key, and what the control plane's gRPC services say to that key; then the app
ends."""

import os
import subprocess
import sys

import psutil
from multi_common import report

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork

API_KEY_VARIABLE = "LIGHTNING_CTL_HTTP_CREDENTIAL"


def agent_ancestors() -> list[tuple[str, bool]]:
    """This process's lightning-agent ancestors (the agent, its fork server): each one's command line, and whether
    the environment it was started with holds the API key."""
    found = []
    process = psutil.Process().parent()
    while process is not None and process.pid > 1:
        try:
            cmdline = " ".join(process.cmdline())
            if "lightning_ctl.agent" in cmdline or "lightning-agent" in cmdline:
                found.append((cmdline, API_KEY_VARIABLE in process.environ()))
        except psutil.Error:
            pass
        process = process.parent()
    return found


def grpc_answer_to(key: str) -> list:
    """``lightning-ctl status`` against the app running here with ``key`` as its token: exit status and stderr."""
    cli = "import sys; from lightning_ctl.controlplane.cli import main; sys.argv[0] = 'lightning-ctl'; main()"
    done = subprocess.run([sys.executable, "-c", cli, "status", "--token", key], capture_output=True, text=True,
                          timeout=60)
    return [done.returncode, done.stderr.strip()]


class EnvProbe(LightningWork):
    def __init__(self):
        super().__init__(parallel=True)
        self.env = {}
        self.agents = []
        self.grpc = []

    def run(self):
        self.env = dict(os.environ)
        self.agents = agent_ancestors()
        self.grpc = grpc_answer_to(os.environ.get(API_KEY_VARIABLE, "").partition(":")[2])


class Root(LightningFlow):
    def __init__(self):
        super().__init__()
        self.w = EnvProbe()

    def run(self):
        self.w.run()
        if self.w.has_succeeded:
            report("ENV", self.w.env)
            report("AGENTS", self.w.agents)
            report("GRPC", self.w.grpc)
            self.stop()


app = LightningApp(Root())
