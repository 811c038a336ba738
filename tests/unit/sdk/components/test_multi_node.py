"""MultiNode in the SDK: its nodes and their gang membership, bad arguments, the node's environment, inline runs."""

from __future__ import annotations

import os

import pytest

from lightning_ctl.sdk import CloudCompute, LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk._gang import gang_of, node_environment, node_run
from lightning_ctl.sdk.components import MultiNode, PyTorchSpawnMultiNode


class Node(LightningWork):
    def __init__(self, tag: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.tag = tag
        self.seen = {}

    def run(self, main_address, main_port, num_nodes, node_rank) -> None:
        self.seen = {"args": [main_address, main_port, num_nodes, node_rank],
                     "env": {k: os.environ.get(k) for k in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "NODE_RANK",
                                                             "LOCAL_WORLD_SIZE", "RANK", "CUDA_VISIBLE_DEVICES")}}


class Parent(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.train = MultiNode(Node, 3, CloudCompute("gpu", pack_nodes=True), tag="t")

    def run(self) -> None:
        self.train.run()


class TestNodes:
    def test_nodes_are_parallel_works_with_their_own_compute_and_arguments(self) -> None:
        """N works of work_cls, parallel, each with a clone of the compute (own id) and the given kwargs."""
        mn = MultiNode(Node, 3, CloudCompute("gpu"), tag="t")
        assert [type(n) for n in mn.ws] == [Node] * 3 and all(n.parallel and n.tag == "t" for n in mn.ws)
        ids = {n.cloud_compute._internal_id for n in mn.ws}
        assert len(ids) == 3 and all(n.cloud_compute.name == "gpu" for n in mn.ws)

    def test_membership_follows_the_flows_name(self) -> None:
        """Attached as root.train, node 1 knows its gang, every node's name, its rank and the packing choice."""
        app = LightningApp(Parent())
        membership = gang_of(app.root.train.ws[1])
        assert membership is not None
        assert (membership.gang, membership.rank, membership.pack) == ("root.train", 1, True)
        assert membership.nodes == ("root.train.ws.0", "root.train.ws.1", "root.train.ws.2")
        assert app.root.train.ws[1].state["vars"]["_gang"]["gang"] == "root.train", "the node's process gets it too"

    @pytest.mark.parametrize("num_nodes", [0, -1, 1.5, True])
    def test_a_bad_node_count_is_refused(self, num_nodes) -> None:
        """num_nodes must be a positive int; the error names it."""
        with pytest.raises(ValueError, match="num_nodes"):
            MultiNode(Node, num_nodes, CloudCompute())

    def test_work_cls_and_compute_are_checked(self) -> None:
        """A flow class or a compute that is not a CloudCompute is refused, naming the argument."""
        with pytest.raises(TypeError, match="work_cls"):
            MultiNode(Parent, 2, CloudCompute())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="cloud_compute"):
            MultiNode(Node, 2, "gpu")  # type: ignore[arg-type]

    def test_pytorch_spawn_checks_the_run_signature(self) -> None:
        """PyTorchSpawnMultiNode names the arguments its nodes' run must take."""
        with pytest.raises(TypeError, match="world_size, node_rank, global_rank, local_rank"):
            PyTorchSpawnMultiNode(Node, CloudCompute(), 2)


class TestNodeProcess:
    def test_environment_for_one_process_per_node(self) -> None:
        """One process per node: RANK/LOCAL_RANK are set, WORLD_SIZE counts nodes."""
        env = node_environment("10.0.0.1", 29500, 4, 2, 1)
        assert env["MASTER_ADDR"] == "10.0.0.1" and env["MASTER_PORT"] == "29500"
        assert (env["WORLD_SIZE"], env["NODE_RANK"], env["RANK"], env["LOCAL_RANK"]) == ("4", "2", "2", "0")

    def test_environment_for_several_gpus_leaves_ranks_to_the_launcher(self) -> None:
        """Eight GPUs per node: WORLD_SIZE counts processes, LOCAL_WORLD_SIZE is 8, no RANK is imposed."""
        env = node_environment("h", 1, 2, 1, 8)
        assert (env["WORLD_SIZE"], env["LOCAL_WORLD_SIZE"]) == ("16", "8") and "RANK" not in env

    def test_the_nodes_process_sets_the_environment_before_run(self, monkeypatch) -> None:
        """As its own process runs it, a node's run sees MASTER_ADDR... from its call, and 2 GPUs make 2 processes."""
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
        for name in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "NODE_RANK", "LOCAL_WORLD_SIZE", "RANK"):
            monkeypatch.delenv(name, raising=False)
        app = LightningApp(Parent())
        node = app.root.train.ws[2]
        node._user_run()(main_address="10.1.1.1", main_port=1234, num_nodes=3, node_rank=2)
        assert node.seen["args"] == ["10.1.1.1", 1234, 3, 2]
        assert node.seen["env"] == {"MASTER_ADDR": "10.1.1.1", "MASTER_PORT": "1234", "WORLD_SIZE": "6",
                                    "NODE_RANK": "2", "LOCAL_WORLD_SIZE": "2", "RANK": None,
                                    "CUDA_VISIBLE_DEVICES": "3,5"}

    def test_a_call_without_the_rendezvous_says_what_is_missing(self) -> None:
        """A node's run called without main_address/main_port fails naming them."""
        app = LightningApp(Parent())
        with pytest.raises(TypeError, match="main_address, main_port"):
            node_run(app.root.train.ws[0], lambda **kw: None)(num_nodes=3, node_rank=0)

    def test_without_an_app_one_node_runs_here(self) -> None:
        """python app.py (no runtime): node 0 runs inline as a 1-node gang on loopback, with a warning."""
        flow = Parent()
        with pytest.warns(UserWarning, match="runs one node"):
            flow.run()
        seen = flow.train.ws[0].seen
        assert seen["args"][0] == "127.0.0.1" and seen["args"][2:] == [1, 0]
        assert flow.train.ws[1].seen == {}
