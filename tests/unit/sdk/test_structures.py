"""Tests for sdk._structures: Dict and List of components: naming, traversal, state and auto-conversion."""

from __future__ import annotations

import pytest

from lightning_ctl.sdk import Dict, LightningApp, LightningFlow, LightningWork, List
from lightning_ctl.sdk._structures import as_structure


class Item(LightningWork):
    def __init__(self) -> None:
        super().__init__(start_with_flow=False)
        self.value = 0

    def run(self) -> None:
        pass


class Inner(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.work = Item()

    def run(self) -> None:
        pass


class Middle(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.inner = Inner()

    def run(self) -> None:
        pass


class Root(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.d = Dict()
        self.l = List()
        self.auto_list = [Item(), Item()]
        self.auto_dict = {"x": Item(), "y": Inner()}
        self.empty = []
        self.plain = [1, 2]

    def run(self) -> None:
        pass


@pytest.fixture
def app() -> LightningApp:
    """An app whose root declares empty and auto-converted structures."""
    return LightningApp(Root())


class TestDict:
    def test_items_are_named_under_the_dict(self, app):
        """A Dict item is named <dict name>.<key>, including items added later."""
        app.root.d["alpha"] = Item()
        app.root.d["beta"] = Inner()
        assert app.root.d["alpha"].name == "root.d.alpha"
        assert app.root.d["beta"].work.name == "root.d.beta.work"

    def test_items_built_before_attaching_are_renamed(self):
        """A Dict filled before it is attached names its items once attached."""
        d = Dict(a=Item())
        assert d["a"].name == ""

        class Holder(LightningFlow):
            def __init__(self) -> None:
                super().__init__()
                self.d = d

            def run(self) -> None:
                pass

        LightningApp(Holder())
        assert d["a"].name == "root.d.a"

    @pytest.mark.parametrize("key", ["a.b", 1, None])
    def test_keys_must_be_strings_without_dots(self, key):
        """A key that is not a string, or contains '.', raises."""
        with pytest.raises(Exception, match="keys must be strings without"):
            Dict()[key] = Item()

    @pytest.mark.parametrize("value", [1, "text", [Item()], None])
    def test_rejects_non_components(self, value):
        """A Dict holds only flows and works."""
        with pytest.raises(TypeError, match="holds only flows and works"):
            Dict()["k"] = value

    def test_is_a_dict(self):
        """Dict subclasses dict: len, keys and lookup work."""
        d = Dict(a=Item(), b=Item())
        assert isinstance(d, dict)
        assert len(d) == 2 and list(d) == ["a", "b"]

    def test_state_has_works_and_flows_only(self, app):
        """Dict state is {"works": {key: state}, "flows": {key: state}}."""
        app.root.d["w"] = Item()
        app.root.d["f"] = Inner()
        state = app.root.d.state
        assert set(state) == {"works", "flows"}
        assert set(state["works"]) == {"w"} and set(state["flows"]) == {"f"}
        assert state["works"]["w"] == app.root.d["w"].state
        assert set(app.root.d.state_vars["works"]["w"]) == {"vars"}

    def test_set_state_requires_matching_keys(self, app):
        """set_state with keys other than the live items raises."""
        app.root.d["w"] = Item()
        with pytest.raises(ValueError, match="do not match"):
            app.root.d.set_state({"works": {"other": {"vars": {}}}, "flows": {}})

    def test_update_validates_and_names_items(self, app):
        """Dict.update() applies the same rules as item assignment: checked keys and values, named items."""
        app.root.d.update(a=Item())
        assert app.root.d["a"].name == "root.d.a"
        with pytest.raises(TypeError):
            app.root.d.update(b=1)
        with pytest.raises(Exception, match="keys must be strings without"):
            app.root.d.update({"x.y": Item()})
        assert set(app.root.d) == {"a"}

    def test_setdefault_names_the_item(self, app):
        """Dict.setdefault() adds a named item like item assignment."""
        app.root.d.setdefault("s", Item())
        assert app.root.d["s"].name == "root.d.s"

    def test_set_state_sets_items(self, app):
        """set_state sets each item's state."""
        app.root.d["w"] = Item()
        state = app.root.d.state
        state["works"]["w"]["vars"]["value"] = 12
        app.root.d.set_state(state)
        assert app.root.d["w"].value == 12


class TestList:
    def test_items_are_named_by_index(self, app):
        """List items are named <list name>.<n> in insertion order."""
        app.root.l.append(Item())
        app.root.l.append(Middle())
        assert [item.name for item in app.root.l] == ["root.l.0", "root.l.1"]
        assert app.root.l[1].inner.work.name == "root.l.1.inner.work"

    def test_index_names_are_never_reused(self, app):
        """After an item is removed, a new item gets the next unused number, and len counts items."""
        first, second = Item(), Item()
        app.root.l.extend([first, second])
        app.root.l.remove(first)
        app.root.l.append(Item())
        assert [item.name for item in app.root.l] == ["root.l.1", "root.l.2"]
        assert len(app.root.l) == 2

    def test_in_place_add_registers_items(self, app):
        """`l += [work]` adds named items like extend()."""
        app.root.l += [Item(), Item()]
        assert [item.name for item in app.root.l] == ["root.l.0", "root.l.1"]
        assert set(app.root.l.state["works"]) == {"0", "1"}

    def test_popped_index_is_not_reused(self, app):
        """pop() then append() does not reuse the popped item's number."""
        app.root.l.append(Item())
        app.root.l.pop()
        app.root.l.append(Item())
        assert app.root.l[0].name == "root.l.1"

    @pytest.mark.parametrize("value", [1, "text", {"k": 1}, None])
    def test_rejects_non_components(self, value):
        """append, insert and constructor arguments must be flows or works."""
        with pytest.raises(TypeError):
            List().append(value)
        with pytest.raises(TypeError):
            List().insert(0, value)
        with pytest.raises(TypeError):
            List(value)

    def test_rejected_item_is_not_added(self):
        """A refused append leaves the list unchanged."""
        items = List(Item())
        with pytest.raises(TypeError):
            items.append(3)
        assert len(items) == 1

    def test_state_keys_are_the_item_numbers(self, app):
        """List state is {"works": {"<n>": ...}, "flows": {"<n>": ...}}."""
        app.root.l.append(Item())
        app.root.l.append(Inner())
        state = app.root.l.state
        assert set(state) == {"works", "flows"}
        assert set(state["works"]) == {"0"} and set(state["flows"]) == {"1"}

    def test_slice_assignment_is_refused(self):
        """Assigning a slice raises TypeError."""
        with pytest.raises(TypeError):
            List(Item())[0:1] = [Item()]


class TestTraversal:
    def test_works_descend_into_nested_flows(self):
        """A structure's works include works of flows nested at any depth (no quirk 8)."""
        deep = Middle()
        items = List(Item(), deep)
        assert items.works == [items[0], deep.inner.work]

    def test_flows_include_nested_flows(self, app):
        """A structure's flows are its flows and their descendants, by full name."""
        app.root.d["m"] = Middle()
        assert list(app.root.d.flows) == ["root.d.m", "root.d.m.inner"]

    def test_app_works_include_structure_works(self, app):
        """Works inside structures are part of app.works."""
        app.root.d["m"] = Middle()
        names = [w.name for w in app.works]
        assert "root.d.m.inner.work" in names


class TestAutoConversion:
    def test_plain_list_of_components_becomes_a_list(self, app):
        """A non-empty plain list of components assigned to a flow attribute becomes a List."""
        assert isinstance(app.root.auto_list, List)
        assert [w.name for w in app.root.auto_list] == ["root.auto_list.0", "root.auto_list.1"]

    def test_plain_dict_of_components_becomes_a_dict(self, app):
        """A non-empty plain dict of components becomes a Dict."""
        assert isinstance(app.root.auto_dict, Dict)
        assert app.root.auto_dict["y"].work.name == "root.auto_dict.y.work"

    def test_converted_structures_are_in_structures_state(self, app):
        """Converted structures appear under "structures", plain lists stay vars."""
        state = app.root.state
        assert set(state["structures"]) == {"d", "l", "auto_list", "auto_dict"}
        assert state["vars"]["empty"] == [] and state["vars"]["plain"] == [1, 2]

    def test_mixed_list_is_refused(self):
        """A plain list mixing components and other values is not converted and is not JSON: refused."""

        class Mixed(LightningFlow):
            def __init__(self) -> None:
                super().__init__()
                self.mixed = [Item(), 1]

            def run(self) -> None:
                pass

        with pytest.raises(AttributeError, match="mixed"):
            Mixed()

    @pytest.mark.parametrize("value", [[], {}, [1, 2], {"a": 1}])
    def test_other_values_are_not_converted(self, value):
        """Empty containers and containers of non-components are not structures."""
        assert as_structure(value) is None

    def test_structures_are_returned_as_is(self):
        """as_structure returns an existing Dict or List unchanged."""
        items = List()
        assert as_structure(items) is items
