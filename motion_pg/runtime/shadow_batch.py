"""Shadow records written set-based: one INSERT per statement and route, not one per row.

Each infer route taking part in an experiment gets two statement triggers (``…_shadow_begin``,
``…_shadow_end``, made by :mod:`motion_pg.compiler.experiments`) calling ``motion.shadow_statement``:
BEFORE the statement opens the route's buffer, the row path (:func:`add`) appends the records of
its rows to it, and AFTER the statement :func:`flush` writes them with one INSERT from arrays.

A statement that fails never reaches its AFTER trigger: its buffer is left open with records of
rows that were rolled back, and the next statement's BEFORE trigger empties it before any row is
seen, so such records are never written. A row with no open buffer is recorded at once, the way
every row was before: a route made before 0.5 (no statement triggers; recreate it to get them), a
row written directly into a partition (statement triggers fire on the relation they were made on,
never a partition), or a buffer that a chain rebuild (:mod:`motion_pg.compiler.chains`) dropped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from motion_pg.queries import query
from motion_pg.runtime.outputs import must_propagate

# the kinds (last part of the Postgres trigger names) of the statement triggers of a route
KINDS = ("shadow_begin", "shadow_end")
Record = tuple[Any, Any, bool, float, str | None]  # row key, outputs, served, seconds, error

_open: dict[tuple[str, int], list[Record]] = {}  # (trigger, route ordinal): this statement's
_relations: dict[tuple[str, int], str] = {}  # the relation each route records rows of
_plan: Any = None
_warned = False


def add(trigger: str, route: Any, relid: str, record: Record) -> bool:
    """Keep ``record`` of a row of ``route`` (written into ``relid``) for the statement's flush;
    False when the row must be recorded at once (no buffer is open for the route, or the row was
    written into a partition)."""
    key = (trigger, route.info.ordinal)
    found = _open.get(key)
    if found is None or relid != route.relid:
        return False
    if not found:
        _relations[key] = route.info.relation
    found.append(record)
    return True


def statement(plpy: Any, td: dict[str, Any]) -> None:
    """``motion.shadow_statement``: BEFORE a statement, open the route's buffer (dropping what a
    failed statement left); AFTER it, write the buffer with one INSERT."""
    args: list[Any] = list(td["args"] or ())
    if len(args) < 2 or not str(args[1]).isdigit():
        return
    key = (str(args[0]), int(args[1]))
    if td["when"] == "BEFORE":
        _open[key] = []
        return
    records = _open.pop(key, None)
    if records:
        flush(plpy, key[0], _relations[key], records)


def flush(plpy: Any, trigger: str, relation: str, records: list[Record]) -> None:
    """Write ``records`` of ``trigger`` on ``relation`` into ``motion.shadow_outputs`` with one
    INSERT. A failure warns once per backend and never fails the writer's statement (PL/Python
    runs each query in its own subtransaction, so a caught error leaves the transaction usable)."""
    global _plan, _warned
    try:
        if _plan is None:
            _plan = plpy.prepare(query("record_shadow_outputs"), ["text", "text", "text"])
        _plan.execute([trigger, relation, dumps(records)])
    except plpy.SPIError as e:
        if must_propagate(plpy, e):
            raise
        if not _warned:
            _warned = True
            plpy.warning(f'motion trigger "{trigger}": shadow outputs are not recorded: {e}')


def dumps(value: Any) -> str:
    """``value`` as JSON text: plain values directly, anything else through :func:`jsonable`."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(jsonable(value))


def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it: NumPy values and arrays as lists and numbers, non-finite
    floats as None, bytes as hex, anything else unknown as its text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    tolist = getattr(value, "tolist", None)  # NumPy arrays and scalars
    if callable(tolist):
        return jsonable(tolist())
    return str(value)
