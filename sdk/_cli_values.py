"""What both CLIs (``lightning-ctl`` and ``lightning-agent``) read the same way.

Private to lightning-ctl; kept in the SDK because it is the one package both CLIs import.
"""

from __future__ import annotations

API_CREDENTIAL_VARIABLE = "LIGHTNING_CTL_HTTP_CREDENTIAL"
"""A work's (or a frontend's) key to the app's own HTTP API, as ``work:<key>`` (see ``sdk._app_server``)."""
CREDENTIAL_VARIABLES = ("LIGHTNING_CTL_TOKEN", "LIGHTNING_CTL_JOIN_TOKEN", "LIGHTNING_AGENT_JOIN_TOKEN",
                        API_CREDENTIAL_VARIABLE)
"""Environment variables that carry credentials: never handed on to an agent, nor by an agent to its works (a
work's own key to the app's API reaches it from its launch, never from its agent's environment)."""


def parse_labels(values: tuple[str, ...], max_labels: int) -> dict[str, str]:
    """``("KEY=VALUE", ...)`` as a dict.

    Raises:
        ValueError: a value is not KEY=VALUE, or there are more than ``max_labels``.
    """
    labels = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {value!r}")
        labels[key] = val
    if len(labels) > max_labels:
        raise ValueError(f"{len(labels)} labels, over the limit of {max_labels}")
    return labels


def parse_port_range(text: str) -> tuple[int, int]:
    """``30000-30999`` (or one port, ``30000``) as (first, last).

    Raises:
        ValueError: not a range of ports between 1 and 65535 (the message shows the form to write).
    """
    first_text, _, last_text = text.strip().partition("-")
    try:
        first, last = int(first_text), int(last_text or first_text)
    except ValueError:
        raise ValueError(f"{text!r} is not a range of ports: write FIRST-LAST, e.g. 30000-30999") from None
    if not 1 <= first <= last <= 65535:
        raise ValueError(f"{text!r} is not a range of ports: FIRST-LAST with 1 <= FIRST <= LAST <= 65535")
    return first, last
