"""MultiNode: one work on each of N machines, placed, run, failed and restarted as one gang.

    MultiNode.run() ─► every node's run(num_nodes, node_rank, ...) ─► the control plane places all N at once,
    fills main_address/main_port (node 0's address and port) ─► each node: MASTER_ADDR, ..., then the user's run
    ─► all succeeded: the nodes are stopped (their machines freed)

A node that dies stops the others; under the nodes' ``RestartPolicy.on_failure`` the whole gang is placed again and
re-runs its call at a new rendezvous, otherwise every node's call fails naming the node, its rank and the reason.
"""

from __future__ import annotations

import socket
import warnings
from typing import Any

from lightning_ctl.sdk._cloud_compute import CloudCompute
from lightning_ctl.sdk._flow import LightningFlow
from lightning_ctl.sdk._gang import (
    MAIN_ADDRESS,
    MAIN_PORT,
    NODE_RANK,
    NUM_NODES,
    PLAIN,
    GangMembership,
    join_gang,
)
from lightning_ctl.sdk._runtime import get_runtime
from lightning_ctl.sdk._status import WorkStageStatus, WorkStatus
from lightning_ctl.sdk._structures import List
from lightning_ctl.sdk._work import LightningWork


def _last_outcome(node: LightningWork) -> str:
    """The stage of the node's latest call, looking past the stop that follows a success."""
    stages = [s.stage for s in node.statuses if s.stage != WorkStageStatus.STOPPED]
    return stages[-1] if stages else WorkStageStatus.NOT_STARTED.value


class MultiNode(LightningFlow):
    """Distributed training on ``num_nodes`` machines: ``num_nodes`` works of ``work_cls``, one gang.

    Each node's ``run(main_address, main_port, num_nodes, node_rank)`` is called with node 0's address and a port
    there, and with ``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``, ``NODE_RANK``, ``LOCAL_WORLD_SIZE`` and
    ``CUDA_VISIBLE_DEVICES`` set (``RANK`` and ``LOCAL_RANK`` too when the node runs one process), so that
    ``torchrun``-style and Lightning Trainer code runs unchanged::

        class Train(LightningWork):
            def run(self, main_address, main_port, num_nodes, node_rank):
                torch.distributed.init_process_group("nccl")  # env:// reads what MultiNode set

        app = LightningApp(MultiNode(Train, num_nodes=4, cloud_compute=CloudCompute("gpu-multi")))

    The nodes are placed all at once or not at all, one per agent (``CloudCompute(pack_nodes=True)`` lets several
    share an agent with room for them); while they cannot be, each node's status says why. Give the nodes
    ``restart_policy=RestartPolicy.on_failure(max_restarts=N)`` (a keyword argument of ``work_cls``) to place the
    whole gang again when a node is lost.

    Args:
        work_cls: the work each node runs; it must accept ``cloud_compute`` and ``parallel`` keyword arguments.
        num_nodes: how many nodes (machines).
        cloud_compute: what each node needs (each node gets its own clone).
        work_args: positional arguments for ``work_cls``.
        work_kwargs: keyword arguments for ``work_cls``.

    Raises:
        TypeError: ``work_cls`` is not a LightningWork subclass, or ``cloud_compute`` is not a CloudCompute.
        ValueError: ``num_nodes`` is not a positive int.
    """

    _executor = PLAIN

    def __init__(self, work_cls: type[LightningWork], num_nodes: int, cloud_compute: CloudCompute,
                 *work_args: Any, **work_kwargs: Any) -> None:
        super().__init__()
        if not (isinstance(work_cls, type) and issubclass(work_cls, LightningWork)):
            raise TypeError(f"{type(self).__name__}(work_cls=...) takes a LightningWork subclass, got {work_cls!r}")
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
            raise ValueError(f"{type(self).__name__}(num_nodes=...) must be a positive int, got {num_nodes!r}")
        if not isinstance(cloud_compute, CloudCompute):
            raise TypeError(f"{type(self).__name__}(cloud_compute=...) takes a CloudCompute, got "
                            f"{type(cloud_compute).__name__}")
        self._check_work_class(work_cls)
        work_kwargs["parallel"] = True
        make: Any = work_cls  # its own constructor: any arguments, plus the compute and parallel its base takes
        self.ws = List(*[make(*work_args, cloud_compute=cloud_compute.clone(), **work_kwargs)
                         for _ in range(num_nodes)])
        self.__dict__["_pack_nodes"] = cloud_compute.pack_nodes
        self._join_nodes()

    def _check_work_class(self, work_cls: type[LightningWork]) -> None:
        """Refuse a work class this kind of MultiNode cannot run (subclasses check the ``run`` they call)."""

    def _set_name(self, name: str) -> None:
        super()._set_name(name)
        self._join_nodes()

    def _join_nodes(self) -> None:
        """Record in each node its gang, its rank, and how its process runs ``run``.

        The gang is the flow's name and every node's name (they change as the flow is attached).
        """
        nodes = tuple(node.name for node in self.ws)
        for rank, node in enumerate(self.ws):
            join_gang(node, GangMembership(self.name, nodes, rank, self.__dict__["_pack_nodes"], self._executor))

    @property
    def num_nodes(self) -> int:
        """How many nodes the gang has."""
        return len(self.ws)

    def run(self, *args: Any, **kwargs: Any) -> None:
        """Call every node's ``run`` (the control plane adds the rendezvous); stop them all once all succeeded.

        ``args`` and ``kwargs`` are passed on to each node's ``run``, after ``num_nodes`` and ``node_rank``.
        """
        if get_runtime() is None:
            self._run_here(args, kwargs)
            return
        for rank, node in enumerate(self.ws):
            node.run(*args, **{NUM_NODES: len(self.ws), NODE_RANK: rank, **kwargs})
        if self.has_succeeded and not self.has_stopped:
            self.stop()

    def _run_here(self, args: tuple, kwargs: dict[str, Any]) -> None:
        """No app around (``python app.py``): node 0 alone runs here, as the former framework did locally."""
        if len(self.ws) > 1:
            warnings.warn(f"{type(self).__name__}(num_nodes={len(self.ws)}) runs one node when no app runs it "
                          "(`lightning-ctl run` places every node)", stacklevel=3)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.ws[0].run(*args, **{MAIN_ADDRESS: "127.0.0.1", MAIN_PORT: port, NUM_NODES: 1, NODE_RANK: 0, **kwargs})

    def stop(self, end_msg: str = "") -> None:
        """Stop every node (as ``work.stop()`` does for one work), freeing their machines.

        Unlike ``LightningFlow.stop``, this does not end the app: a subclass that wants to end it calls
        ``LightningFlow.stop(self)``.
        """
        for node in self.ws:
            node.stop()

    # -- the gang's outcome, as one -------------------------------------------------------------------------------

    @property
    def has_succeeded(self) -> bool:
        """Whether every node's run succeeded (even if the nodes were stopped since)."""
        return all(_last_outcome(node) == WorkStageStatus.SUCCEEDED for node in self.ws)

    @property
    def has_failed(self) -> bool:
        """Whether the gang's call failed (a node died with no restart left, or raised)."""
        return any(node.has_failed for node in self.ws)

    @property
    def is_running(self) -> bool:
        """Whether every node runs the call."""
        return all(node.is_running for node in self.ws)

    @property
    def has_stopped(self) -> bool:
        """Whether the nodes were stopped."""
        return all(node.has_stopped for node in self.ws)

    @property
    def status(self) -> WorkStatus:
        """The gang's status: a failed node's (its message names the node, its rank and why), else node 0's."""
        failed = [node.status for node in self.ws if node.has_failed]
        return failed[0] if failed else self.ws[0].status
