"""Tests for controlplane.http.user_routes: what configure_api()/configure_commands() return becomes routes bound
to the handlers' signatures, and mistakes are named."""

from __future__ import annotations

from typing import Optional

import pydantic
import pytest

from lightning_ctl.controlplane.errors import RoutesError
from lightning_ctl.controlplane.http.user_routes import _convert, build_routes
from lightning_ctl.sdk import ApiRequest, Get, LightningFlow, Post


class Item(pydantic.BaseModel):
    name: str
    count: int = 1


class Root(LightningFlow):
    def run(self) -> None:
        pass

    def add(self, item: Item, dry_run: bool = False) -> dict:
        return item.model_dump()

    def get(self, item_id: int, verbose: Optional[bool] = None) -> int:
        return item_id

    def raw(self, request: ApiRequest) -> str:
        return request.method


def never_taken(method: str, path: str) -> bool:
    return False


def test_parameters_come_from_path_query_body_and_request():
    """Path segments, typed query parameters, a pydantic body and the request stand-in are told apart."""
    root = Root()
    routes = build_routes([Post("/api/v1/items", root.add), Get("/api/v1/items/{item_id}", root.get),
                           Post("/api/v1/raw", root.raw)], [{"add it": root.add}], never_taken)
    sources = {r.route: {p.name: p.source for p in r.params} for r in routes}
    assert sources["/api/v1/items"] == {"item": "body", "dry_run": "query"}
    assert sources["/api/v1/items/{item_id}"] == {"item_id": "path", "verbose": "query"}
    assert sources["/api/v1/raw"] == {"request": "request"}
    assert routes[1].match("GET", "/api/v1/items/42") == {"item_id": "42"}
    assert routes[1].match("POST", "/api/v1/items/42") is None
    assert [(r.http_method, r.route, r.tag) for r in routes][-1] == ("POST", "/command/add_it", "app_command")


def test_values_are_converted_by_annotation():
    """Query strings become the annotated types; a model validates its JSON; bad values say what was expected."""
    assert _convert("42", int) == 42
    assert _convert("true", Optional[bool]) is True
    assert _convert({"name": "a"}, Item) == Item(name="a", count=1)
    with pytest.raises(ValueError, match="expected int"):
        _convert("x", int)
    with pytest.raises(ValueError, match="boolean"):
        _convert("maybe", bool)


@pytest.mark.parametrize("apis, commands, message", [
    (["not a route"], [], "must be a Post, Get, Put or Delete"),
    ([], ["not a dict"], "must be a dict"),
    ([], [{"x": 3}], "only flow methods"),
])
def test_what_cannot_be_served_is_named(apis, commands, message):
    """configure_api()/configure_commands() returning the wrong thing fails the app's start with the entry named."""
    with pytest.raises(RoutesError, match=message):
        build_routes(apis, commands, never_taken)


def test_a_route_served_twice_is_refused():
    """Two handlers for one route, or one of lightning-ctl's own routes, are refused naming the route."""
    root = Root()
    with pytest.raises(RoutesError, match="GET /api/v1/state is served twice"):
        build_routes([Get("/api/v1/state", root.get)], [], lambda method, path: path == "/api/v1/state")
    with pytest.raises(RoutesError, match="served twice"):
        build_routes([Post("/x", root.add), Post("/x", root.add)], [], never_taken)


def test_a_path_parameter_the_handler_lacks_is_refused():
    """A {name} in the route must be a parameter of the handler."""
    with pytest.raises(RoutesError, match="no parameter 'other'"):
        build_routes([Get("/api/v1/items/{other}", Root().get)], [], never_taken)


def test_reserved_routes_are_refused_at_construction():
    """Routes the control plane keeps (commands, the view, works' proxies, frontends) cannot be taken by the app."""
    with pytest.raises(ValueError, match="'command'"):
        Post("/command/x", Root().add)
    with pytest.raises(ValueError, match="starting with '/'"):
        Get("api/v1/x", Root().get)
