"""STATE PER in the backend: the state of the row's key for infer, from a bounded cache.

A backend loads only the keys it infers, each once per version of that key, and keeps at most the
trigger's ``key_cache`` setting of them (least recently used first out). When the serving version
moves, the keys the versions in between changed (``motion.key_states``) are dropped from the cache,
and only those: a fit of one key never costs the other keys' cached states.
"""

from __future__ import annotations

import json
import math
import pickle
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, time
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from motion_pg.queries import query
from motion_pg.runtime import stamps
from motion_pg.trigger import Context, Trigger


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float | Decimal):
        if math.isfinite(value) and value == int(value):
            return int(value)
        return float(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def key_json(values: Sequence[Any]) -> str:
    """The key of ``values`` as motion stores it (``motion._state_key``: a jsonb array), as text
    in one canonical spelling, so keys read from rows (infer) and from jsonb (fit, the catalog)
    compare equal: integral numbers as integers, dates and times in ISO form."""
    return json.dumps([_plain(v) for v in values], separators=(",", ":"), sort_keys=True)


def canonical(text: str) -> str:
    """``text`` (a key as jsonb prints it) in :func:`key_json`'s spelling."""
    return key_json(json.loads(text))


def key_value(values: Sequence[Any]) -> Any:
    """What ``ctx.key`` holds: the value of a one-column key, else the tuple of values."""
    return values[0] if len(values) == 1 else tuple(values)


@dataclass
class _Entry:
    version: int  # the key's version (0: no state of its own; the serving version is used)
    own: Mapping[str, Any]  # the key's own state (setup_key's for a new key)
    shared: Mapping[str, Any] | None = None  # the trigger-wide state `merged` was built over
    merged: Mapping[str, Any] = field(default_factory=dict)
    contexts: dict[int, Context] = field(default_factory=dict)  # per route ordinal


class KeyCache:
    """The keys of one keyed trigger this backend has loaded: an LRU of at most ``capacity``."""

    def __init__(self, db: Any, trigger: str, columns: Sequence[str], capacity: int) -> None:
        self.db = db  # the backend's motion database (motion_pg.runtime.plpy_db.PlpyDatabase)
        self.trigger = trigger
        self.columns = tuple(columns)
        self.capacity = capacity
        self.entries: OrderedDict[str, _Entry] = OrderedDict()
        self.loads = 0  # keys read from the database (for tests and benchmarks)

    def moved(self, old: int, new: int) -> None:
        """The serving version moved from ``old`` to ``new``: forget the keys changed between."""
        if old == new or not self.entries:
            return
        if old < 0:
            self.entries.clear()
            return
        low, high = min(old, new), max(old, new)
        limit = len(self.entries) + 1
        rows = self.db.query(query("keys_changed"), [self.trigger, low, high, limit])
        if len(rows) >= limit:  # more keys changed than are cached: cheaper to start over
            self.entries.clear()
            return
        for row in rows:
            self.entries.pop(canonical(row["key"]), None)

    def context(
        self, instance: Trigger, base: Context, serving: int, row: Mapping[str, Any]
    ) -> Context:
        """``base`` (a route's context) for the key of ``row``: its state and version."""
        values = [row.get(c) for c in self.columns]
        text = key_json(values)
        entry = self.entries.get(text)
        if entry is None:
            entry = self._load(instance, base, serving, text, values)
        else:
            self.entries.move_to_end(text)
        shared = base.state
        if entry.shared is not shared:
            entry.shared = shared
            entry.merged = MappingProxyType({**shared, **entry.own}) if entry.own else shared
            entry.contexts.clear()
        ordinal = base.route.ordinal if base.route is not None else -1
        ctx = entry.contexts.get(ordinal)
        if ctx is None or ctx.params is not base.params:
            ctx = entry.contexts[ordinal] = replace(
                base,
                state=entry.merged,
                key=key_value(values),
                version=entry.version or serving,
            )
        return ctx

    def _load(self, instance: Trigger, base: Context, serving: int, text: str,
              values: Sequence[Any]) -> _Entry:  # fmt: skip
        self.loads += 1
        rows = self.db.query(query("key_state_at"), [self.trigger, text, serving])
        if rows and rows[0]["data"] is not None:
            own: Mapping[str, Any] = MappingProxyType(pickle.loads(rows[0]["data"]))
            entry = _Entry(int(rows[0]["version"]), own)
        else:
            initial = instance.setup_key(key_value(values), replace(base, key=key_value(values)))
            entry = _Entry(0, MappingProxyType(dict(initial or {})))
        self.entries[text] = entry
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)
        return entry


def restamp(stamp: bytes, version: int) -> bytes:
    """A lineage stamp naming the key's ``version`` instead of the serving one."""
    return stamps.with_version(stamp, version)
