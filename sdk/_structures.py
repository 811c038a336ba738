"""Dict and List: containers of flows and works whose items are named and tracked like attributes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from lightning_ctl.sdk._component import Named, StateAttributes

if TYPE_CHECKING:
    from lightning_ctl.sdk._flow import LightningFlow
    from lightning_ctl.sdk._work import LightningWork


def _is_component(value: Any) -> bool:
    return isinstance(value, StateAttributes)


def _is_flow(value: Any) -> bool:
    return isinstance(value, StateAttributes) and value._IS_FLOW


def _check_item(structure: Named, key: str, value: Any) -> None:
    if not _is_component(value):
        raise TypeError(
            f"{structure._name or type(structure).__name__}[{key!r}]: a {type(structure).__name__} holds only "
            f"flows and works, got {type(value).__name__}"
        )


class _Structure(Named):
    """Behaviour shared by Dict and List: naming, traversal, state."""

    def _items(self) -> list[tuple[str, Any]]:
        raise NotImplementedError

    def _named_children(self) -> list[tuple[str, Any]]:
        return self._items()

    def _adopt(self, key: str, value: Any) -> None:
        if self.__dict__.get("_name"):
            value._set_name(f"{self._name}.{key}")

    @property
    def name(self) -> str:
        """The structure's full dotted name."""
        return self.__dict__.get("_name") or "root"

    @property
    def works(self) -> list[LightningWork]:
        """The works it holds, then the works of the flows it holds (all the way down), in item order."""
        out: list[LightningWork] = []
        for _, item in self._items():
            out.extend(item.works(recurse=True) if _is_flow(item) else [item])
        return out

    @property
    def flows(self) -> dict[str, LightningFlow]:
        """The flows it holds and their descendants, by full name."""
        out: dict[str, LightningFlow] = {}
        for _, item in self._items():
            if _is_flow(item):
                out[item.name] = item
                out.update(item.flows)
        return out

    def _state_view(self, view: str) -> dict[str, Any]:
        flows = {key: getattr(item, view) for key, item in self._items() if _is_flow(item)}
        works = {key: getattr(item, view) for key, item in self._items() if not _is_flow(item)}
        return {"works": works, "flows": flows}

    @property
    def state(self) -> dict[str, Any]:
        """``{"works": {key: state}, "flows": {key: state}}``."""
        return self._state_view("state")

    @property
    def state_vars(self) -> dict[str, Any]:
        """Like ``state`` with the items' ``state_vars``."""
        return self._state_view("state_vars")

    @property
    def state_with_changes(self) -> dict[str, Any]:
        """The same as ``state``."""
        return self.state

    def set_state(self, state: dict[str, Any]) -> None:
        """Set each item's state; the keys must match the live items."""
        items = dict(self._items())
        given = {**state.get("works", {}), **state.get("flows", {})}
        if set(given) != set(items):
            raise ValueError(f"{self.name}: state keys {sorted(given)} do not match the items {sorted(items)}")
        for key, item_state in given.items():
            items[key].set_state(item_state)

    def component(self, key: str) -> Any:
        """The item named ``key`` (as in its full name), or KeyError."""
        for item_key, item in self._items():
            if item_key == key:
                return item
        raise KeyError(key)


class Dict(_Structure, dict):
    """A dict of flows or works; keys are strings without '.' and items are named ``<dict name>.<key>``."""

    def __init__(self, **items: Any) -> None:
        super().__init__()
        self.__dict__["_name"] = ""
        for key, value in items.items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or "." in key:
            raise Exception(f"{self.name}: Dict keys must be strings without '.', got {key!r}")
        _check_item(self, key, value)
        dict.__setitem__(self, key, value)
        self._adopt(key, value)

    def update(self, *args: Any, **items: Any) -> None:
        """Add items, each checked and named like ``d[key] = value``."""
        for key, value in dict(*args, **items).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        """``d[key]``, adding ``default`` under ``key`` first when missing."""
        if key not in self:
            self[key] = default
        return dict.__getitem__(self, key)

    def _items(self) -> list[tuple[str, Any]]:
        return list(dict.items(self))

    def __hash__(self) -> int:  # type: ignore[override]  # identified by object, like components (dict is not)
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


class List(_Structure, list):
    """A list of flows or works; each item is named ``<list name>.<n>`` with an n that is never reused."""

    _next_key: int
    """The number the next item gets (set through __dict__: list attributes are not state)."""

    def __init__(self, *items: Any) -> None:
        super().__init__()
        self.__dict__["_name"] = ""
        self.__dict__["_next_key"] = 0
        self.extend(items)

    def _key_for(self, value: Any) -> str:
        key = value.__dict__.get("_list_key")
        if key is None:
            key = str(self._next_key)
            self.__dict__["_next_key"] += 1
            value.__dict__["_list_key"] = key
        return key

    def _register(self, value: Any) -> None:
        key = self._key_for(value)
        _check_item(self, key, value)
        self._adopt(key, value)

    def append(self, value: Any) -> None:
        """Append a flow or work."""
        _check_item(self, str(self._next_key), value)
        list.append(self, value)
        self._register(value)

    def extend(self, values: Iterable[Any]) -> None:
        """Append each of ``values``."""
        for value in values:
            self.append(value)

    def __iadd__(self, values: Iterable[Any]) -> List:  # type: ignore[misc]  # list's own __iadd__ returns Self too
        self.extend(values)
        return self

    def insert(self, index: int, value: Any) -> None:  # type: ignore[override]
        """Insert a flow or work at ``index`` (its name still comes from the next unused number)."""
        _check_item(self, str(self._next_key), value)
        list.insert(self, index, value)
        self._register(value)

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            raise TypeError(f"{self.name}: slice assignment is not supported on a List")
        _check_item(self, str(self._next_key), value)
        list.__setitem__(self, index, value)
        self._register(value)

    def _items(self) -> list[tuple[str, Any]]:
        return [(item.__dict__["_list_key"], item) for item in list.__iter__(self)]

    def component(self, key: str) -> Any:
        """The item named ``key``, or at position ``int(key)`` when no item has that name."""
        try:
            return super().component(key)
        except KeyError:
            return list.__getitem__(self, int(key))

    def __hash__(self) -> int:  # type: ignore[override]  # identified by object, like components (list is not)
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other


def as_structure(value: Any) -> Dict | List | None:
    """``value`` as a structure: itself if it is one, a converted plain list or dict of components, else None."""
    if isinstance(value, (Dict, List)):
        return value
    if isinstance(value, list) and value and all(_is_component(v) for v in value):
        return List(*value)
    if isinstance(value, dict) and value and all(_is_component(v) for v in value.values()):
        return Dict(**value)
    return None
