"""The app's layout (``configure_layout``) as tabs the view shows, and the frontends the flows return.

Runs on the flow thread (inside queries): the layout may depend on the state, so it is read again with the state.
A tab is ``{"name", "kind", "target"}``:

    kind "frontend"   a flow's own UI (a Frontend), served at target = /ui/<flow name>/
    kind "flow"       a flow without a UI of its own: the view shows its state; target = the flow's name
    kind "work"       a work's URL (its configure_layout(), else work.url); target = that URL, "" while unknown; a URL
                      of the work's own server is shown through the control plane (/works/<name>/...), so that the
                      browser reaches it wherever the work runs
    kind "url"        a URL the flow returned (absolute, or a path on this server)
"""

from __future__ import annotations

from typing import Any

from lightning_ctl.controlplane.agents.serving import proxy_path
from lightning_ctl.controlplane.errors import LayoutError
from lightning_ctl.sdk._flow import LightningFlow
from lightning_ctl.sdk._frontend import Frontend
from lightning_ctl.sdk._work import LightningWork


def frontend_path(flow_name: str) -> str:
    """Where the control plane serves the UI of the flow called ``flow_name``."""
    return f"/ui/{flow_name}/"


def _overrides(component: Any, method: str, base: type) -> bool:
    return getattr(type(component), method, None) is not getattr(base, method)


def find_frontends(root: LightningFlow) -> dict[str, Frontend]:
    """The flows whose ``configure_layout()`` returns a Frontend, by flow name (called once, as the app starts).

    Raises:
        LayoutError: a flow's configure_layout() raised.
    """
    found: dict[str, Frontend] = {}
    for flow in [root, *root.flows.values()]:
        if not _overrides(flow, "configure_layout", LightningFlow):
            continue
        result = _call_layout(flow)
        if isinstance(result, Frontend):
            result.flow = flow
            found[flow.name] = result
    return found


def _call_layout(component: LightningFlow | LightningWork) -> Any:
    try:
        return component.configure_layout()
    except Exception as exc:  # noqa: BLE001 - the user's method: its error names it
        raise LayoutError(f"{component.name}.configure_layout() raised {type(exc).__name__}: {exc}") from exc


def read_layout(root: LightningFlow, frontends: dict[str, Frontend]) -> list[dict[str, str]]:
    """The root flow's tabs.

    Raises:
        LayoutError: configure_layout() raised or returned something that is not a layout.
    """
    if root.name in frontends:
        return [{"name": root.name, "kind": "frontend", "target": frontend_path(root.name)}]
    result = _call_layout(root)
    if isinstance(result, Frontend):  # returned later than at the start: not served
        raise LayoutError(f"{root.name}.configure_layout() returned a Frontend only after the app started")
    if isinstance(result, dict):
        result = [result]
    if not isinstance(result, (list, tuple)):
        raise LayoutError(f"{root.name}.configure_layout() must return a Frontend, a dict or a list of dicts, "
                          f"got {type(result).__name__}")
    return [_tab(root, entry, frontends) for entry in result]


def _through_proxy(work: LightningWork, url: str) -> str:
    """``url`` as the browser reaches it: a URL of the work's own server becomes its path under /works/<name>/."""
    own = work.url
    if own and (url == own or url.startswith(own + "/")):
        return proxy_path(work.name) + url[len(own):].lstrip("/")
    return url


def _tab(flow: LightningFlow, entry: Any, frontends: dict[str, Frontend]) -> dict[str, str]:
    if not isinstance(entry, dict) or "content" not in entry:
        raise LayoutError(f"{flow.name}.configure_layout(): each tab is a dict with 'name' and 'content', "
                          f"got {entry!r}")
    content = entry["content"]
    name = str(entry.get("name") or getattr(content, "name", content))
    if isinstance(content, LightningFlow):
        if content.name in frontends:
            return {"name": name, "kind": "frontend", "target": frontend_path(content.name)}
        return {"name": name, "kind": "flow", "target": content.name}
    if isinstance(content, LightningWork):
        url = _call_layout(content) if _overrides(content, "configure_layout", LightningWork) else content.url
        if url is not None and not isinstance(url, str):
            raise LayoutError(f"{content.name}.configure_layout() must return a URL or None, got {type(url).__name__}")
        return {"name": name, "kind": "work", "target": _through_proxy(content, url or ""), "work": content.name}
    if isinstance(content, str):
        return {"name": name, "kind": "url", "target": content}
    raise LayoutError(f"{flow.name}.configure_layout(): tab {name!r} has content of type {type(content).__name__} "
                      "(a flow, a work or a URL)")
