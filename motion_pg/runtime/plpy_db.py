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

    @property
    def plpy(self) -> Any:
        """The ``plpy`` module this database runs through."""
        return self._plpy

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


def search_path_text(schemas: Sequence[str]) -> str:
    """``"app", public, pg_temp``: the recorded schemas, quoted, with pg_temp last (a temp table
    never shadows the application's tables)."""
    quoted = ['"' + s.replace('"', '""') + '"' for s in schemas if s != "pg_temp"]
    return ", ".join([*quoted, "pg_temp"])


class UserDatabase:
    """``ctx.db`` for user code (infer, setup): a :class:`PlpyDatabase` whose queries run under
    the trigger's recorded search_path, while motion's own SQL keeps its pinned one.

    The path is set transaction-locally around each user query and put back after it, so a
    trigger whose code never queries pays nothing per row.
    """

    def __init__(self, db: PlpyDatabase, search_path: str) -> None:
        self._db = db
        self._path = search_path

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run ``sql`` under the trigger's search_path; see :meth:`PlpyDatabase.query`."""
        previous = self._db.query(_SWAP, [self._path])[0]["previous"]
        try:
            return self._db.query(sql, params)
        finally:
            self._db.query(_SWAP, [previous])

    def execute_ddl(self, sql: str) -> None:
        """Run a statement without parameters under the trigger's search_path."""
        previous = self._db.query(_SWAP, [self._path])[0]["previous"]
        try:
            self._db.execute_ddl(sql)
        finally:
            self._db.query(_SWAP, [previous])


# the fenced subquery reads the old path before the outer select list sets the new one
_SWAP = (
    "SELECT s.previous, pg_catalog.set_config('search_path', $1, true) AS current FROM "
    "(SELECT pg_catalog.current_setting('search_path') AS previous OFFSET 0) AS s"
)


def user_database(
    db: PlpyDatabase, search_path: Sequence[str] | None
) -> PlpyDatabase | UserDatabase:
    """The ``ctx.db`` user code gets: ``db`` under ``search_path`` (the schemas recorded at CREATE,
    ``motion.triggers.search_path``), or ``db`` itself when none was recorded."""
    if search_path is None:
        return db
    return UserDatabase(db, search_path_text(search_path))
