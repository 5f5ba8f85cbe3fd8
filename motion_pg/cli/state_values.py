"""How ``motion-pg state show`` prints state values, for a trigger's state and a key's alike:
JSON-able values as JSON, the others as the type, summary and size ``motion.state`` describes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click


def is_description(value: Any) -> bool:
    """Whether ``value`` is ``motion.state``'s description of a value that is not JSON-able."""
    return isinstance(value, dict) and set(value) == {"type", "summary", "bytes"}


def echo_value(value: Any, as_json: bool) -> None:
    """One value, whole."""
    if as_json or not is_description(value):
        click.echo(json.dumps(value, indent=None if as_json else 2))
    else:
        click.echo(f"{value['type']} ({value['bytes']} bytes pickled)\n{value['summary']}")


def value_rows(values: Mapping[str, Any]) -> list[list[str]]:
    """Table rows (name, type, value or summary) of ``values``, long JSON cut at 200 characters."""
    rows = []
    for name, value in values.items():
        if is_description(value):
            rows.append([name, value["type"], f"{value['summary']} ({value['bytes']} bytes)"])
        else:
            text = json.dumps(value)
            rows.append([name, "json", text if len(text) <= 200 else text[:197] + "..."])
    return rows
