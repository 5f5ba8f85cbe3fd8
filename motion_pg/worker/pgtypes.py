"""The Python values fit sees: the ones PL/Python gives setup and infer for the same column value.

PL/Python (PostgreSQL 15) converts int2/int4/int8/oid to int, float4/float8 to float, numeric to
Decimal, bool to bool, bytea to bytes, arrays to lists of converted elements, composites to
dicts, and everything else (text types, json/jsonb, dates and times, uuid, inet, ranges, enums,
pgvector ``vector``, ...) to the type's text output as str; NULL is None. psycopg's defaults differ
(json → dict, date → datetime.date, uuid → UUID, ...): :func:`use_plpython_types` makes a
connection load values the PL/Python way, and :class:`TypedDatabase` is ``ctx.db`` over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import postgres
from psycopg.abc import Loader
from psycopg.pq import Format
from psycopg.types.composite import CompositeInfo, register_composite
from psycopg.types.string import TextLoader

from motion_pg.pg import _adapt

# base types PL/Python does not hand over as their text output, and psycopg loads the same way
_NATIVE = frozenset({"bool", "bytea", "int2", "int4", "int8", "oid", "float4", "float8", "numeric"})


def use_plpython_types(conn: psycopg.Connection[Any]) -> None:
    """Make ``conn`` load every result value as PL/Python converts it (composites on first use)."""
    adapters = conn.adapters
    for info in postgres.types:
        if info.name not in _NATIVE and adapters.get_loader(info.oid, Format.TEXT) is not None:
            adapters.register_loader(info.oid, TextLoader)
    # anonymous records: PL/Python's field names are f1, f2, ... psycopg has none: keep the text
    adapters.register_loader("record", TextLoader)


def _make_dict(values: Sequence[Any], info: CompositeInfo) -> dict[str, Any]:
    return dict(zip(info.field_names, values, strict=True))


class TypedDatabase:
    """``ctx.db`` in fit: results hold the values PL/Python would give (see the module doc)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._kinds: dict[int, bool] = {}  # oid -> composite (or an array of composites)?

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run ``sql`` (placeholders ``$1, $2, ...``) and return its rows as dicts."""
        names, rows = self.fetch(sql, params)
        return [dict(zip(names, row, strict=True)) for row in rows]

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> tuple[list[str], list[list[Any]]]:
        """Run ``sql`` and return its column names and rows (as lists)."""
        with psycopg.RawCursor(self.conn) as cur:
            cur.execute(sql, [_adapt(p) for p in params])
            if cur.description is None:
                return [], []
            oids = [c.type_code for c in cur.description]
            late = self._register_composites(oids)
            rows = [list(r) for r in cur.fetchall()]
            names = [c.name for c in cur.description]
        # composite columns loaded as text before their loaders existed: load them again
        for i, oid in enumerate(oids):
            if oid in late:
                loader = self._loader(oid)
                for row in rows:
                    if row[i] is not None:
                        row[i] = loader.load(row[i].encode(self.conn.info.encoding))
        return names, rows

    def _loader(self, oid: int) -> Loader:
        cls = self.conn.adapters.get_loader(oid, Format.TEXT)
        assert cls is not None
        return cls(oid, self.conn)

    def _register_composites(self, oids: Sequence[int]) -> set[int]:
        """Register loaders for the composite types among ``oids`` not yet seen; returns them."""
        unknown = [o for o in set(oids) if o not in self._kinds and postgres.types.get(o) is None]
        if not unknown:
            return set()
        rows = self.conn.execute(
            "SELECT t.oid::bigint, coalesce(e.oid, t.oid)::pg_catalog.regtype::text,"
            " coalesce(e.typtype, t.typtype) = 'c'"
            " FROM pg_catalog.pg_type t LEFT JOIN pg_catalog.pg_type e"
            " ON e.oid = t.typelem AND t.typcategory = 'A'"
            " WHERE t.oid = ANY(%s::pg_catalog.oid[])",
            [unknown],
        ).fetchall()
        late = set()
        for oid, name, composite in rows:
            self._kinds[oid] = composite
            if composite:
                self._register(name)
                late.add(oid)
        return late

    def _register(self, name: str) -> None:
        info = CompositeInfo.fetch(self.conn, name)
        if info is None:
            return
        # fields that are composites themselves load as dicts too
        self._register_composites(info.field_types)
        register_composite(info, self.conn, lambda *a: a, make_object=_make_dict)
