"""Tests for sdk._flow: attaching children, state shapes, naming, traversal order, schedule and iterate."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta

import pytest

from lightning_ctl.sdk import Dict, LightningApp, LightningFlow, LightningWork, List
from lightning_ctl.sdk.errors import CacheMissException, ExitAppException, LightningFlowException


class SimpleWork(LightningWork):
    def __init__(self) -> None:
        super().__init__(start_with_flow=False)
        self.value = 0

    def run(self) -> None:
        pass


class Leaf(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.work_b = SimpleWork()

    def run(self) -> None:
        pass


class Deep(LightningFlow):
    """Flow -> Flow -> Work, to check that structures descend all the way down."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = Leaf()

    def run(self) -> None:
        pass


class Tree(LightningFlow):
    """Works, child flows and structures, with names that sort differently from their declaration order."""

    def __init__(self) -> None:
        super().__init__()
        self.zeta = SimpleWork()
        self.alpha = SimpleWork()
        self.flow_z = Leaf()
        self.flow_a = Leaf()
        self.s_list = List(SimpleWork(), Deep())
        self.d_dict = Dict(k2=SimpleWork(), k1=Leaf())
        self.counter = 0

    def run(self) -> None:
        pass


class Dynamic(LightningFlow):
    """Attaches new children inside run(), as the reference allows for flows and works."""

    def __init__(self) -> None:
        super().__init__()
        self.work_a = SimpleWork()
        self.items = List()
        self.mode = "work"

    def run(self) -> None:
        if self.mode == "work":
            self.dyn = SimpleWork()
        elif self.mode == "flow":
            self.flow_b = Leaf()
        elif self.mode == "structure":
            self.new_dict = Dict(x=SimpleWork())
        elif self.mode == "plain-list":
            self.new_list = [SimpleWork(), SimpleWork()]
        elif self.mode == "append":
            self.items.append(SimpleWork())
        elif self.mode == "replace":
            self.work_a = SimpleWork()
        elif self.mode == "remove":
            self.work_a = None

    def attach_outside_run(self) -> None:
        self.elsewhere = SimpleWork()


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.counter = 0

    def run(self) -> None:
        pass


class TestAttachingComponents:
    def test_component_cannot_be_replaced(self):
        """Assigning a different component to a component attribute raises AttributeError naming it."""
        flow = Dynamic()
        with pytest.raises(AttributeError, match="can't be changed once defined: work_a"):
            flow.work_a = SimpleWork()

    def test_component_cannot_be_removed(self):
        """Assigning None to a component attribute raises AttributeError."""
        flow = Dynamic()
        with pytest.raises(AttributeError, match="work_a"):
            flow.work_a = None

    def test_component_cannot_be_replaced_inside_run(self):
        """Even inside run(), an attached work can't be replaced."""
        flow = Dynamic()
        flow.mode = "replace"
        with pytest.raises(AttributeError, match="work_a"):
            flow.run()

    def test_same_component_may_be_reassigned(self):
        """Assigning the very same component again is allowed."""
        flow = Dynamic()
        work = flow.work_a
        flow.work_a = work
        assert flow.work_a is work

    def test_structure_cannot_be_replaced(self):
        """A declared List can't be replaced by another List."""
        flow = Dynamic()
        with pytest.raises(AttributeError, match="items"):
            flow.items = List()

    def test_flow_may_attach_new_work_in_run(self):
        """A flow may attach a new work under a new attribute inside its own run()."""
        app = LightningApp(Dynamic())
        app.root.run()
        assert app.root.dyn.name == "root.dyn"
        assert app.root.dyn in app.works

    def test_flow_may_attach_new_flow_in_run(self):
        """A flow may attach a new flow inside run(); its subtree is renamed under the parent."""
        app = LightningApp(Dynamic())
        app.root.mode = "flow"
        app.root.run()
        assert app.root.flow_b.name == "root.flow_b"
        assert app.root.flow_b.work_b.name == "root.flow_b.work_b"

    def test_new_component_outside_run_or_init_is_refused(self):
        """Attaching a new work from some other method raises AttributeError naming it."""
        with pytest.raises(AttributeError, match="elsewhere"):
            Dynamic().attach_outside_run()

    @pytest.mark.parametrize("mode", ["structure", "plain-list"])
    def test_new_structure_attribute_in_run_is_refused(self, mode):
        """A new Dict/List attribute (or a plain list of works) can't be created inside run()."""
        flow = Dynamic()
        flow.mode = mode
        with pytest.raises(AttributeError, match="new_dict|new_list"):
            flow.run()

    def test_items_may_be_added_in_run_to_a_declared_structure(self):
        """Items added in run() to a List declared in __init__ are named and traversed."""
        app = LightningApp(Dynamic())
        app.root.mode = "append"
        app.root.run()
        app.root.run()
        assert [w.name for w in app.root.items] == ["root.items.0", "root.items.1"]
        assert app.root.items[1] in app.works

    def test_new_plain_attribute_in_run_is_refused(self):
        """A new plain (non-component) attribute can't be created in run()."""

        class Bad(LightningFlow):
            def run(self) -> None:
                self.late = 1

        with pytest.raises(AttributeError, match="late"):
            Bad().run()


class TestState:
    def test_state_has_the_reference_keys(self):
        """flow.state has vars, calls, flows, works, structures and changes."""
        state = Tree().state
        assert set(state) == {"vars", "calls", "flows", "works", "structures", "changes"}
        assert state["changes"] == {}
        assert state["calls"] == {}

    def test_vars_hold_public_and_internal_attributes_only(self):
        """vars holds public attributes plus _paths and _layout, and no children."""
        flow = Tree()
        flow._private = 3
        assert set(flow.state["vars"]) == {"counter", "_paths", "_layout"}

    def test_children_are_keyed_by_attribute_name(self):
        """works, flows and structures are keyed by attribute or item key, not full name."""
        state = LightningApp(Tree()).root.state
        assert set(state["works"]) == {"zeta", "alpha"}
        assert set(state["flows"]) == {"flow_z", "flow_a"}
        assert set(state["structures"]) == {"s_list", "d_dict"}
        assert set(state["flows"]["flow_a"]["works"]) == {"work_b"}
        assert state["structures"]["s_list"] == {
            "works": {"0": state["structures"]["s_list"]["works"]["0"]},
            "flows": {"1": state["structures"]["s_list"]["flows"]["1"]},
        }
        assert set(state["structures"]["d_dict"]["works"]) == {"k2"}
        assert set(state["structures"]["d_dict"]["flows"]) == {"k1"}

    def test_state_vars_has_only_vars_at_every_level(self):
        """state_vars drops calls and changes everywhere, keeping the tree."""
        view = Tree().state_vars
        assert set(view) == {"vars", "flows", "works", "structures"}
        assert set(view["works"]["alpha"]) == {"vars"}
        assert set(view["flows"]["flow_a"]) == {"vars", "flows", "works", "structures"}
        assert set(view["structures"]["d_dict"]["works"]["k2"]) == {"vars"}

    def test_state_is_a_json_copy(self):
        """Mutating the returned state does not change the flow."""
        flow = Root()
        flow.counter = [1]
        flow.state["vars"]["counter"].append(2)
        assert flow.counter == [1]

    def test_set_state_assigns_vars_and_recurses(self):
        """set_state assigns vars and sets the children's state by attribute name."""
        flow = Tree()
        state = flow.state
        state["vars"]["counter"] = 7
        state["works"]["alpha"]["vars"]["value"] = 3
        state["flows"]["flow_a"]["works"]["work_b"]["vars"]["value"] = 4
        state["structures"]["d_dict"]["works"]["k2"]["vars"]["value"] = 5
        flow.set_state(state)
        values = (flow.counter, flow.alpha.value, flow.flow_a.work_b.value, flow.d_dict["k2"].value)
        assert values == (7, 3, 4, 5)

    def test_set_state_without_recurse_leaves_children(self):
        """set_state(recurse=False) only touches the flow's own vars."""
        flow = Tree()
        state = flow.state
        state["vars"]["counter"] = 1
        state["works"]["alpha"]["vars"]["value"] = 9
        flow.set_state(state, recurse=False)
        assert flow.counter == 1 and flow.alpha.value == 0

    def test_set_state_merges_calls(self):
        """A flow's calls are merged with update, not replaced."""
        flow = Root()
        flow._calls["kept"] = {"x": 1}
        flow.set_state({"vars": {}, "calls": {"added": {"y": 2}}})
        assert flow._calls == {"kept": {"x": 1}, "added": {"y": 2}}

    def test_set_state_applies_assignment_rules(self):
        """A var set_state does not know is refused by the declaration rule."""
        with pytest.raises(AttributeError, match="unknown"):
            Root().set_state({"vars": {"unknown": 1}})

    def test_set_state_with_missing_child_raises(self):
        """set_state naming a child that does not exist raises AttributeError."""
        with pytest.raises(AttributeError, match="ghost"):
            Root().set_state({"vars": {}, "works": {"ghost": {"vars": {}}}})


class TestNaming:
    def test_root_and_children_have_dotted_names(self):
        """The root is "root"; children are "<parent>.<attr>" at any depth."""
        app = LightningApp(Tree())
        assert app.root.name == "root"
        assert app.root.flow_a.name == "root.flow_a"
        assert app.root.flow_a.work_b.name == "root.flow_a.work_b"

    def test_unattached_flow_reads_root(self):
        """A flow that was never attached reads "root", its works read ""."""
        flow = Leaf()
        assert flow.name == "root"
        assert flow.work_b.name == ""

    def test_structure_items_are_named_by_key_and_index(self):
        """Dict items are root.d.key and List items root.l.index, at any depth."""
        app = LightningApp(Tree())
        assert app.root.d_dict["k2"].name == "root.d_dict.k2"
        assert app.root.d_dict["k1"].work_b.name == "root.d_dict.k1.work_b"
        assert app.root.s_list[0].name == "root.s_list.0"
        assert app.root.s_list[1].inner.work_b.name == "root.s_list.1.inner.work_b"

    def test_subtree_built_before_attaching_is_renamed(self):
        """A flow built with its children before being attached gets full names once attached."""
        child = Deep()
        assert child.inner.work_b.name == ""

        class Holder(LightningFlow):
            def __init__(self) -> None:
                super().__init__()
                self.deep = child

            def run(self) -> None:
                pass

        LightningApp(Holder())
        assert child.inner.work_b.name == "root.deep.inner.work_b"


class TestTraversal:
    def test_works_order_is_own_then_flows_then_structures(self):
        """works(): own works sorted, then child flows' works sorted, then structures' works (spec 6.4)."""
        app = LightningApp(Tree())
        assert [w.name for w in app.root.works()] == [
            "root.alpha",
            "root.zeta",
            "root.flow_a.work_b",
            "root.flow_z.work_b",
            "root.d_dict.k2",
            "root.d_dict.k1.work_b",
            "root.s_list.0",
            "root.s_list.1.inner.work_b",
        ]

    def test_reference_example_order(self):
        """The reference's a09 order: root.dyn, root.work_a, then root.flow_b.work_b."""
        app = LightningApp(Dynamic())
        app.root.run()
        app.root.mode = "flow"
        app.root.run()
        assert [w.name for w in app.works] == ["root.dyn", "root.work_a", "root.flow_b.work_b"]

    def test_structures_descend_all_the_way_down(self):
        """A work nested Dict -> Flow -> Flow -> Work is listed (no quirk 8)."""

        class Holder(LightningFlow):
            def __init__(self) -> None:
                super().__init__()
                self.d = Dict(deep=Deep())

            def run(self) -> None:
                pass

        app = LightningApp(Holder())
        assert [w.name for w in app.works] == ["root.d.deep.inner.work_b"]

    def test_recurse_false_gives_own_works_only(self):
        """works(recurse=False) lists only the flow's own work attributes, sorted."""
        app = LightningApp(Tree())
        assert [w.name for w in app.root.works(recurse=False)] == ["root.alpha", "root.zeta"]

    def test_named_works_pairs_names_with_works(self):
        """named_works() gives (full name, work) pairs in the order of works()."""
        root = LightningApp(Tree()).root
        assert root.named_works() == [(w.name, w) for w in root.works()]

    def test_flows_lists_every_descendant_flow_sorted(self):
        """flows maps full names to every descendant flow, structures included, in sorted attribute order."""
        root = LightningApp(Tree()).root
        assert list(root.flows) == [
            "root.flow_a",
            "root.flow_z",
            "root.d_dict.k1",
            "root.s_list.1",
            "root.s_list.1.inner",
        ]
        assert root.flows["root.s_list.1.inner"] is root.s_list[1].inner


class TestStopAndFail:
    def test_stop_raises_exit_and_prints_message(self, capsys):
        """stop(msg) prints the message and raises ExitAppException."""
        with pytest.raises(ExitAppException):
            Root().stop("all done")
        assert "all done" in capsys.readouterr().out

    def test_fail_raises_flow_exception_and_prints_message(self, capsys):
        """fail(msg) prints the message and raises LightningFlowException."""
        with pytest.raises(LightningFlowException, match="broken"):
            Root().fail("broken")
        assert "broken" in capsys.readouterr().out

    def test_exit_is_a_deprecated_alias_of_stop(self):
        """_exit() warns DeprecationWarning and stops the app."""
        with warnings.catch_warnings(record=True) as caught, pytest.raises(ExitAppException):
            warnings.simplefilter("always")
            Root()._exit()
        assert any(issubclass(w.category, DeprecationWarning) for w in caught)

    def test_a_child_flow_without_run_does_nothing_when_run(self):
        """A child flow holding only a UI (no run()) may be run by its parent, as before: it does nothing."""

        class UiOnly(LightningFlow):
            pass

        assert UiOnly().run() is None

    def test_stop_and_fail_are_not_cache_misses(self):
        """The exceptions ending the app are distinct from the call interrupt."""
        assert not issubclass(ExitAppException, CacheMissException)
        assert not issubclass(LightningFlowException, CacheMissException)


class TestSchedule:
    def test_true_at_registration_then_the_running_flag(self):
        """schedule() is True when first evaluated, then follows its running flag (one run per firing)."""
        flow = Root()
        assert flow.schedule("* * * * *", user_key="job") is True
        assert flow.schedule("* * * * *", user_key="job") is False
        far = datetime.now() + timedelta(minutes=5)
        assert flow._fire_due_schedules(far.timestamp()) is True
        assert flow.schedule("* * * * *", user_key="job") is True
        flow._reset_schedules()
        assert flow.schedule("* * * * *", user_key="job") is False

    def test_not_due_does_not_fire(self):
        """Before the next cron time, nothing fires."""
        flow = Root()
        start = datetime(2030, 1, 1, 12, 0, 0)
        flow.schedule("0 * * * *", start_time=start, user_key="hourly-job")
        assert flow._fire_due_schedules(start.timestamp() + 60) is False
        assert flow._fire_due_schedules(start.timestamp() + 3601) is True

    def test_bookkeeping_lives_in_calls(self):
        """The schedule is kept in calls["scheduling"]["schedule:<hash>"] with its pattern and flow name."""
        app = LightningApp(Root())
        start = datetime(2030, 1, 1, 0, 0, 0)
        app.root.schedule("hourly", start_time=start, user_key="k")
        scheduling = app.root.state["calls"]["scheduling"]
        [(key, entry)] = scheduling.items()
        assert key.startswith("schedule:")
        expected = {"running": False, "cron_pattern": "@hourly", "start_time": start.isoformat()}
        assert entry.pop("name") == "root"
        assert entry == expected

    def test_default_key_is_the_calling_line(self):
        """Two schedule() calls on different lines are different schedules."""
        flow = Root()
        flow.schedule("* * * * *")
        flow.schedule("* * * * *")
        assert len(flow._calls["scheduling"]) == 2

    def test_invalid_pattern_raises(self):
        """An invalid cron pattern raises ValueError."""
        with pytest.raises(ValueError):
            Root().schedule("not a cron", user_key="bad")


class TestExperimentalIterate:
    def test_resumes_after_the_last_completed_item(self):
        """An interrupted loop resumes with the item whose body did not complete."""
        flow = Root()
        seen = []

        def body() -> None:
            for item in flow.experimental_iterate(range(5), user_key="it"):
                seen.append(item)
                if item == 2 and seen.count(2) == 1:
                    raise CacheMissException("interrupted")

        with pytest.raises(CacheMissException):
            body()
        body()
        assert seen == [0, 1, 2, 2, 3, 4]

    def test_run_once_yields_nothing_after_finishing(self):
        """With run_once=True a finished iteration yields nothing on later runs."""
        flow = Root()
        assert list(flow.experimental_iterate("ab", user_key="k")) == ["a", "b"]
        assert list(flow.experimental_iterate("ab", user_key="k")) == []

    def test_run_once_false_restarts(self):
        """With run_once=False a finished iteration starts again from the beginning."""
        flow = Root()
        assert list(flow.experimental_iterate("ab", run_once=False, user_key="k")) == ["a", "b"]
        assert list(flow.experimental_iterate("ab", run_once=False, user_key="k")) == ["a", "b"]

    def test_progress_is_recorded_in_calls(self):
        """The progress entry has name, call_hash, counter and has_finished."""
        flow = Root()
        list(flow.experimental_iterate([1, 2, 3], user_key="k"))
        [(key, entry)] = flow.state["calls"].items()
        assert key.startswith("experimental_iterate:")
        assert entry == {"name": "root", "call_hash": key, "counter": 3, "has_finished": True}
