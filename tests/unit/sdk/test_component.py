"""Tests for sdk._component: which attributes are state, the assignment rules of flows and works, naming."""

from __future__ import annotations

import math

import pytest

from lightning_ctl.sdk import LightningApp, LightningFlow, LightningWork
from lightning_ctl.sdk._component import Named, check_json_value, is_state_name, to_json
from lightning_ctl.sdk.errors import LightningError, StateNotSerializableError

# -- components used by the tests ----------------------------------------------------------------------


class PlainWork(LightningWork):
    def __init__(self) -> None:
        super().__init__(start_with_flow=False)
        self.counter = 0

    def run(self) -> None:
        self.counter += 1

    def add_new_attribute(self) -> None:
        self.not_declared = 1

    def set_private(self) -> None:
        self._scratch = {1, 2}


class PlainFlow(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.counter = 0

    def run(self) -> None:
        self.counter += 1

    def add_new_attribute(self) -> None:
        self.not_declared = 1

    def set_private(self) -> None:
        self._scratch = {1, 2}


class HelperDeclaresFlow(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self._declare()

    def _declare(self) -> None:
        self.from_helper = "declared"

    def run(self) -> None:
        pass


class HelperDeclaresWork(LightningWork):
    def __init__(self) -> None:
        super().__init__(start_with_flow=False)
        self._declare()

    def _declare(self) -> None:
        self.from_helper = "declared"

    def run(self) -> None:
        pass


class ChildWithSet(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.tags = {"a", "b"}

    def run(self) -> None:
        pass


class ParentBuildsBadChild(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.child = ChildWithSet()

    def run(self) -> None:
        pass


class ParentSetsChildAttribute(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.child = PlainFlow()
        self.child.added_by_parent = 1

    def run(self) -> None:
        pass


class ForgotSuperFlow(LightningFlow):
    def __init__(self) -> None:
        self.counter = 0
        super().__init__()

    def run(self) -> None:
        pass


class ForgotSuperWork(LightningWork):
    def __init__(self) -> None:
        self.counter = 0
        super().__init__()

    def run(self) -> None:
        pass


class WithProperty(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self._celsius = 0.0

    @property
    def fahrenheit(self) -> float:
        return self._celsius * 9 / 5 + 32

    @fahrenheit.setter
    def fahrenheit(self, value: float) -> None:
        self._celsius = (value - 32) * 5 / 9

    @property
    def read_only(self) -> int:
        return 1

    def run(self) -> None:
        pass


class WorkWithProperty(LightningWork):
    def __init__(self) -> None:
        super().__init__(start_with_flow=False)
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    @size.setter
    def size(self, value: int) -> None:
        self._size = value * 2

    def run(self) -> None:
        pass


class Jsonable:
    def __json__(self) -> dict:
        return {"kind": "jsonable"}


class Holder(LightningFlow):
    def __init__(self) -> None:
        super().__init__()
        self.child = PlainFlow()
        self.work = PlainWork()

    def run(self) -> None:
        pass


def _make(kind: str) -> LightningFlow | LightningWork:
    return PlainFlow() if kind == "flow" else PlainWork()


KINDS = ["flow", "work"]


# -- tests ------------------------------------------------------------------------------------------


class TestIsStateName:
    def test_public_names_are_state(self):
        """A name without a leading underscore is a state attribute."""
        assert is_state_name("counter", frozenset())

    def test_private_names_are_not_state(self):
        """A name with a leading underscore is private unless listed as internal state."""
        assert not is_state_name("_scratch", frozenset({"_paths"}))

    def test_internal_names_are_state(self):
        """Internal names such as _paths count as state."""
        assert is_state_name("_paths", frozenset({"_paths"}))


class TestDeclarationRule:
    @pytest.mark.parametrize("kind", KINDS)
    def test_new_state_attribute_outside_init_raises_naming_it(self, kind):
        """Creating a public attribute outside __init__ raises AttributeError naming the attribute."""
        component = _make(kind)
        with pytest.raises(AttributeError, match="not_declared"):
            component.add_new_attribute()
        assert "not_declared" not in component.__dict__

    @pytest.mark.parametrize("kind", KINDS)
    def test_error_message_follows_the_reference_wording(self, kind):
        """The message has the reference wording "Cannot set attributes that were not defined in __init__"."""
        component = _make(kind)
        with pytest.raises(AttributeError, match="Cannot set attributes that were not defined in __init__: "):
            component.add_new_attribute()

    @pytest.mark.parametrize("kind", KINDS)
    def test_declared_attribute_may_be_reassigned_anywhere(self, kind):
        """An attribute declared in __init__ can take new values outside __init__."""
        component = _make(kind)
        component.counter = 41
        component.counter += 1
        assert component.counter == 42

    @pytest.mark.parametrize("cls", [HelperDeclaresFlow, HelperDeclaresWork])
    def test_helper_called_from_init_may_declare(self, cls):
        """A helper method called from __init__ counts as __init__ for the declaration rule."""
        component = cls()
        assert component.from_helper == "declared"
        assert component.state["vars"]["from_helper"] == "declared"

    @pytest.mark.parametrize("kind", KINDS)
    def test_private_attributes_are_free_anywhere(self, kind):
        """A `_x` attribute can be created outside __init__, hold any value and stays out of the state."""
        component = _make(kind)
        component.set_private()
        assert component._scratch == {1, 2}
        assert "_scratch" not in component.state["vars"]

    def test_another_components_init_does_not_count(self):
        """A parent's __init__ cannot create a new state attribute on its child."""
        with pytest.raises(AttributeError, match="added_by_parent"):
            ParentSetsChildAttribute()


class TestJsonOnlyAttributes:
    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize("value", [{1, 2}, b"raw", object()], ids=["set", "bytes", "object"])
    def test_non_json_values_are_refused(self, kind, value):
        """Sets, bytes and objects raise StateNotSerializableError, which is also an AttributeError."""
        component = _make(kind)
        with pytest.raises(StateNotSerializableError) as info:
            component.counter = value
        assert isinstance(info.value, AttributeError)
        assert isinstance(info.value, LightningError)
        assert info.value.attribute == "counter"
        assert component.counter == 0

    def test_message_names_component_and_attribute(self):
        """The error names the attached component (full name) and the attribute."""
        app = LightningApp(Holder())
        with pytest.raises(StateNotSerializableError) as info:
            app.root.child.counter = {1}
        assert "root.child" in str(info.value)
        assert "counter" in str(info.value)
        assert info.value.component_name == "root.child"

    def test_work_message_names_work_and_attribute(self):
        """A work's error names the work's full name and the attribute."""
        app = LightningApp(Holder())
        with pytest.raises(StateNotSerializableError) as info:
            app.root.work.counter = b"x"
        assert "root.work" in str(info.value) and "counter" in str(info.value)

    def test_unattached_work_message_names_its_class(self):
        """A work not yet in an app is named by its class in the error."""
        work = PlainWork()
        with pytest.raises(StateNotSerializableError, match="PlainWork") as info:
            work.counter = {1}
        assert "counter" in str(info.value)

    def test_child_flow_failing_in_its_init_is_named_by_its_class(self):
        """A child flow rejected in its own __init__ (not attached yet) is named by its class, not "root"."""
        with pytest.raises(StateNotSerializableError) as info:
            ParentBuildsBadChild()
        assert "ChildWithSet" in str(info.value)
        assert "tags" in str(info.value)

    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize(
        "value",
        [(1, 2), {"a": [1, {"b": (2, 3)}]}, [[1], {"x": None}], None, "text", 1.5, True],
        ids=["tuple", "nested-dict", "nested-list", "none", "str", "float", "bool"],
    )
    def test_json_values_are_accepted(self, kind, value):
        """Tuples, nested containers and primitives are accepted."""
        component = _make(kind)
        component.counter = value
        assert component.counter == value

    @pytest.mark.parametrize("kind", KINDS)
    def test_nan_is_accepted(self, kind):
        """NaN is accepted and appears in the state as NaN."""
        component = _make(kind)
        component.counter = float("nan")
        assert math.isnan(component.state["vars"]["counter"])

    def test_tuple_stays_a_tuple_in_memory_and_is_a_list_in_state(self):
        """A tuple keeps its type on the component but reads as a JSON list in the state."""
        flow = PlainFlow()
        flow.counter = (1, 2)
        assert flow.counter == (1, 2)
        assert flow.state["vars"]["counter"] == [1, 2]

    def test_objects_with_json_hook_are_accepted(self):
        """An object with __json__ is accepted, as json.dumps with that hook accepts it."""
        check_json_value(PlainFlow(), "value", Jsonable())
        assert to_json(Jsonable()) == '{"kind": "jsonable"}'

    def test_type_of_an_attribute_may_change(self):
        """Changing the type of a declared attribute (list to dict) is allowed."""
        flow = PlainFlow()
        flow.counter = [1]
        flow.counter = {"a": 1}
        assert flow.state["vars"]["counter"] == {"a": 1}


class TestForgotSuperInit:
    @pytest.mark.parametrize("cls", [ForgotSuperFlow, ForgotSuperWork])
    def test_assigning_before_super_init_says_what_was_forgotten(self, cls):
        """Setting an attribute before super().__init__() names the missing call and the class."""
        with pytest.raises(AttributeError, match=r"Did you forget to call super\(\).__init__\(\)") as info:
            cls()
        assert cls.__name__ in str(info.value)


class TestPropertySetters:
    def test_flow_property_setter_wins(self):
        """Assigning a property with a setter calls the setter and creates no state attribute."""
        flow = WithProperty()
        flow.fahrenheit = 212
        assert flow._celsius == pytest.approx(100)
        assert "fahrenheit" not in flow.state["vars"]

    def test_work_property_setter_wins(self):
        """A work's property setter is called instead of the state rules."""
        work = WorkWithProperty()
        work.size = 4
        assert work.size == 8
        assert "size" not in work.state["vars"]

    def test_read_only_property_raises(self):
        """Assigning a property without a setter raises AttributeError."""
        with pytest.raises(AttributeError, match="read_only"):
            WithProperty().read_only = 2


class TestNamed:
    def test_set_name_renames_the_subtree(self):
        """Naming a node renames its children recursively with dotted names."""

        class Leaf(Named):
            def __init__(self) -> None:
                self._name = ""

        class Node(Named):
            def __init__(self, **children: Named) -> None:
                self._name = ""
                self._children = children

            def _named_children(self):
                return list(self._children.items())

        leaf = Leaf()
        middle = Node(leaf=leaf)
        top = Node(middle=middle)
        top._set_name("root")
        assert (top._name, middle._name, leaf._name) == ("root", "root.middle", "root.middle.leaf")
        top._set_name("root.moved")
        assert leaf._name == "root.moved.middle.leaf"
