"""What changed between two versions of a trigger: its params and settings, and its state keys."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from motion_pg.settings import Settings


@dataclass(frozen=True)
class Change:
    """One key's change: ``kind`` is ``added``, ``removed`` or ``changed``; values as text."""

    key: str
    kind: str
    before: str = ""
    after: str = ""


def show(value: Any) -> str:
    """A value as compact JSON text."""
    return json.dumps(value, sort_keys=True, default=str)


def dict_changes(before: dict[str, Any] | None, after: dict[str, Any], *,
                 none: str = "null") -> list[Change]:  # fmt: skip
    """The keys added, removed or changed from ``before`` to ``after`` (None: nothing before);
    a None value reads as ``none``."""

    def text(value: Any) -> str:
        return none if value is None else show(value)

    if before is None:
        return []
    changes: list[Change] = []
    for key in sorted(before.keys() | after.keys()):
        if key not in before:
            changes.append(Change(key, "added", after=text(after[key])))
        elif key not in after:
            changes.append(Change(key, "removed", before=text(before[key])))
        elif before[key] != after[key]:
            changes.append(Change(key, "changed", text(before[key]), text(after[key])))
    return changes


def config_changes(row: dict[str, Any]) -> list[Change]:
    """A version row's params and settings changes against the previous version's."""
    changes = dict_changes(row["previous_params"], row["params"])
    if row["previous_settings"] is not None:
        before = Settings.from_json(row["previous_settings"]).to_json()
        after = Settings.from_json(row["settings"]).to_json()
        changes += dict_changes(before, after, none="default")
    return changes


def render(value: Any) -> str:
    """A state value from ``motion.state``'s rendering: JSON, or a description of the object."""
    if isinstance(value, dict) and set(value) == {"type", "summary", "bytes"}:
        return f"{value['type']} ({value['bytes']:,} bytes pickled): {value['summary']}"
    return json.dumps(value, indent=1, sort_keys=True, default=str)


def state_changes(before: dict[str, Any], after: dict[str, Any], before_blobs: dict[str, int],
                  after_blobs: dict[str, int]) -> list[Change]:  # fmt: skip
    """Keys added, removed and changed between two renderings of ``motion.state``.

    A key changed when its stored value (blob) differs, even if both renderings read alike (an
    object summarised the same way).
    """
    changes: list[Change] = []
    for key in sorted(before.keys() | after.keys()):
        if key not in before:
            changes.append(Change(key, "added", after=render(after[key])))
        elif key not in after:
            changes.append(Change(key, "removed", before=render(before[key])))
        elif before_blobs.get(key) != after_blobs.get(key):
            changes.append(Change(key, "changed", render(before[key]), render(after[key])))
    return changes
