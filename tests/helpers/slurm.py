"""A real Slurm cluster on this one machine, owned by a test: ``slurmctld`` and two ``slurmd`` "nodes" (n1, n2),
each declaring 2 GPUs through ``gres.conf`` (fake device files: symlinks to /dev/null), 4 CPUs and 4 GiB, all
in a temporary folder, on free loopback ports, with ``AuthType=auth/none`` (nothing outside the folder is used).

    with SlurmCluster(tmp_path) as slurm:       # or the ``slurm`` fixture (one cluster per test module)
        slurm.env                               # SLURM_CONF=... for the commands (lightning-ctl's too)
        slurm.jobs()                            # {job_id: (state, reason, name)} from squeue

``skip_reason()`` says why a cluster cannot run here (Slurm not installed, not root), for tests to skip with.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from tests.helpers import free_port, wait_until

BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")
NODES = {"n1": (0, 1), "n2": (2, 3)}
"""Node name -> the fake GPU device numbers it declares."""

_CONFIG = """\
ClusterName=lctltest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool/%n
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd-%n.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
GresTypes=gpu
KillWait=10
MinJobAge=600
{nodes}
PartitionName=debug Nodes={node_names} Default=YES MaxTime=INFINITE State=UP
"""


def skip_reason() -> str | None:
    """Why a local Slurm cluster cannot run here, or None."""
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        return (f"Slurm is not installed ({', '.join(missing)} missing): scripts/test installs it as root "
                f"(scripts/system-packages.txt)")
    if os.geteuid() != 0:
        return "a local Slurm cluster needs root (slurmd runs jobs as their submitter)"
    return None


class SlurmCluster:
    """slurmctld and two slurmd in ``root``; stopped (by pid) on exit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "slurm.conf"
        self.env = {"SLURM_CONF": str(self.conf)}
        self._daemons: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> SlurmCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Write the configuration, start the daemons, wait until both nodes are idle."""
        for sub in ("state", "log", "dev", *(f"spool/{n}" for n in NODES)):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for devices in NODES.values():
            for number in devices:
                (self.root / "dev" / f"nvidia{number}").symlink_to("/dev/null")
        nodes = "\n".join(
            f"NodeName={name} NodeHostname=localhost NodeAddr=127.0.0.1 Port={free_port()} CPUs=4 "
            f"RealMemory=4096 Gres=gpu:{len(devices)} State=UNKNOWN"
            for name, devices in NODES.items()
        )
        self.conf.write_text(_CONFIG.format(root=self.root, ctld_port=free_port(), slurmd_port=free_port(),
                                            nodes=nodes, node_names=",".join(NODES)))
        (self.root / "gres.conf").write_text("".join(
            f"NodeName={name} Name=gpu File={self.root}/dev/nvidia[{devices[0]}-{devices[-1]}]\n"
            for name, devices in NODES.items()
        ))
        env = {**os.environ, **self.env}
        self._daemons.append(subprocess.Popen(["slurmctld", "-D", "-i", "-f", str(self.conf)], env=env,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                              start_new_session=True))
        for name in NODES:
            self._daemons.append(subprocess.Popen(["slurmd", "-D", "-f", str(self.conf), "-N", name], env=env,
                                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                  start_new_session=True))

        def nodes_idle() -> bool:
            result = self.run("sinfo", "--noheader", "--format=%N %t", check=False)
            return result.returncode == 0 and result.stdout.split() == ["n[1-2]", "idle"]

        wait_until(nodes_idle, 60.0, 0.2, what=f"both slurmd nodes idle\n{self.logs()}")

    def stop(self) -> None:
        """Cancel every job, then stop the daemons."""
        if self._daemons:
            self.run("scancel", "--full", *self.jobs(active_only=True), check=False)
        for daemon in self._daemons:
            try:
                os.killpg(daemon.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for daemon in self._daemons:
            try:
                daemon.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)
                daemon.wait(5)
        self._daemons.clear()

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A Slurm command against this cluster."""
        return subprocess.run(argv, env={**os.environ, **self.env}, capture_output=True, text=True, timeout=60,
                              check=check)

    def jobs(self, active_only: bool = False) -> dict[str, tuple[str, str, str]]:
        """Every job squeue knows: {id: (state, reason, name)}."""
        states = [] if active_only else ["--states=all"]
        result = self.run("squeue", "--noheader", *states, "--format=%i|%T|%r|%j", check=False)
        jobs = {}
        for line in result.stdout.splitlines():
            job_id, state, reason, name = line.split("|", 3)
            jobs[job_id] = (state, reason, name)
        return jobs

    def logs(self) -> str:
        """The daemons' logs (for failure messages)."""
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted((self.root / "log").glob("*")))
