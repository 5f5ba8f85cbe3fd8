"""``ctx.db`` inside the database server: SQL through ``plpy`` with cached prepared plans."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any


def _pg_type(value: Any) -> str:
    if value is None or isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int8"
    if isinstance(value, float):
        return "float8"
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytea"
    if isinstance(value, dict):
        return "jsonb"
    if isinstance(value, list | tuple):
        inner = {_pg_type(v) for v in value if v is not None}
        if len(inner) == 1 and (t := inner.pop()) not in ("jsonb", "bytea"):
            return t + "[]" if not t.endswith("[]") else t
        return "text[]" if not inner else "jsonb"
    return "text"


def _pg_value(value: Any, type_name: str) -> Any:
    if type_name == "jsonb":
        return json.dumps(value)
    if type_name == "bytea" and not isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, tuple):
        return list(value)
    return value


class PlpyDatabase:
    """A :class:`motion_pg.trigger.Database` over ``plpy``; placeholders are ``$1, $2, …``.

    Parameter types follow the Python values (int → int8, str and None → text, dict → jsonb, …);
    cast in SQL (``$1::integer``) where the query needs another type.
    """

    def __init__(self, plpy: Any) -> None:
        self._plpy = plpy
        self._plans: dict[tuple[str, tuple[str, ...]], Any] = {}

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        types = tuple(_pg_type(p) for p in params)
        key = (sql, types)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plpy.prepare(sql, list(types))
        result = plan.execute([_pg_value(p, t) for p, t in zip(params, types, strict=True)])
        return [dict(r) for r in result]

    def execute_ddl(self, sql: str) -> None:
        """Run a statement without parameters (DDL built with psycopg.sql)."""
        self._plpy.execute(sql)
