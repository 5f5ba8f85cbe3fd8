"""The Python values fit sees: the ones PL/Python gives setup and infer for the same column value.

PL/Python (PostgreSQL 15) converts int2/int4/int8/oid to int, float4/float8 to float, numeric to
Decimal, bool to bool, bytea to bytes, arrays to lists of converted elements, composites to
dicts, and everything else (text types, json/jsonb, dates and times, uuid, inet, ranges, enums,
pgvector ``vector``, ...) to the type's text output as str; NULL is None. psycopg's defaults differ
(json → dict, date → datetime.date, uuid → UUID, ...): :func:`use_plpython_types` makes a
connection load values the PL/Python way, and :class:`TypedDatabase` is ``ctx.db`` over it.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import abc, postgres
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo
from psycopg.types.array import register_array
from psycopg.types.composite import CompositeInfo, register_composite
from psycopg.types.string import TextLoader

from motion_pg.pg import _adapt

# base types PL/Python does not hand over as their text output, and psycopg loads the same way
_NATIVE = frozenset({"bool", "bytea", "int2", "int4", "int8", "oid", "float4", "float8", "numeric"})


class Float4Loader(Loader):
    """float4 as PL/Python gives it: the float4 value widened to a double (0.1 → 0.100000001...)."""

    format = Format.TEXT

    def load(self, data: Buffer) -> float:
        return float(struct.unpack("f", struct.pack("f", float(bytes(data))))[0])


def use_plpython_types(conn: psycopg.Connection[Any]) -> None:
    """Make ``conn`` load every result value as PL/Python converts it (composites, domains and
    arrays of types psycopg does not know are registered on first use by :class:`TypedDatabase`)."""
    adapters = conn.adapters
    for info in postgres.types:
        if info.name not in _NATIVE and adapters.get_loader(info.oid, Format.TEXT) is not None:
            adapters.register_loader(info.oid, TextLoader)
    adapters.register_loader("float4", Float4Loader)
    # anonymous records: PL/Python's field names are f1, f2, ... psycopg has none: keep the text
    adapters.register_loader("record", TextLoader)


# a statement's column names and rows
Result = tuple[list[str], list[list[Any]]]


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

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> Result:
        """Run ``sql`` and return its column names and rows (as lists)."""
        with psycopg.RawCursor(self.conn) as cur:
            cur.execute(sql, [_adapt(p) for p in params])
            return self._typed(cur, set())

    def fetch_sets(self, sql: str) -> list[Result]:
        """Run the statements of ``sql`` (no parameters: one round trip) and return each one's
        column names and rows, in order (empty for a statement without rows)."""
        with psycopg.RawCursor(self.conn) as cur:
            cur.execute(sql)
            late: set[int] = set()
            results = [self._typed(cur, late)]
            while cur.nextset():
                results.append(self._typed(cur, late))
            return results

    def _typed(self, cur: psycopg.RawCursor[Any], late: set[int]) -> Result:
        """The current result of ``cur``; ``late`` collects the types registered since ``cur``
        was made (its loaders are the connection's at that time)."""
        if cur.description is None:
            return [], []
        oids = [c.type_code for c in cur.description]
        late |= self._register_composites(oids)
        rows = [list(r) for r in cur.fetchall()]
        names = [c.name for c in cur.description]
        # composite columns loaded as text before their loaders existed: load them again
        for i, oid in enumerate(oids):
            if oid in late:
                loader = self._loader(oid)
                for row in rows:
                    if isinstance(row[i], str):
                        row[i] = loader.load(row[i].encode(self.conn.info.encoding))
        return names, rows

    def _loader(self, oid: int) -> abc.Loader:
        return self._loader_class(oid)(oid, self.conn)

    def _register_composites(self, oids: Sequence[int]) -> set[int]:
        """Register loaders for the types among ``oids`` psycopg does not know and PL/Python
        converts (composites, domains, arrays of them); returns the ones that need them."""
        late = set()
        for oid in self._ensure(oids):
            if self._kinds.get(oid):
                late.add(oid)
        return late

    def _ensure(self, oids: Sequence[int]) -> list[int]:
        unknown = [o for o in set(oids) if o not in self._kinds and postgres.types.get(o) is None]
        if not unknown:
            return []
        rows = self.conn.execute(
            "SELECT t.oid::bigint, t.typtype::text, t.typcategory = 'A' AND t.typelem <> 0,"
            " t.typelem::bigint, t.typdelim::text, t.typbasetype::bigint,"
            " t.oid::pg_catalog.regtype::text"
            " FROM pg_catalog.pg_type t WHERE t.oid = ANY(%s::pg_catalog.oid[])",
            [unknown],
        ).fetchall()
        for oid, typtype, is_array, elem, delimiter, base, name in rows:
            self._kinds[oid] = False
            if typtype == "c":
                self._register(name)
            elif typtype == "d":
                self._ensure([base])
                self.conn.adapters.register_loader(oid, self._loader_class(base))
            elif is_array:
                self._ensure([elem])
                register_array(TypeInfo(name, elem, oid, delimiter=delimiter), self.conn)
            else:
                continue  # its text output, as PL/Python gives it
            self._kinds[oid] = True
        return unknown

    def _loader_class(self, oid: int) -> type[abc.Loader]:
        cls = self.conn.adapters.get_loader(oid, Format.TEXT)
        return cls if cls is not None else TextLoader

    def _register(self, name: str) -> None:
        info = CompositeInfo.fetch(self.conn, name)
        if info is None:
            return
        # fields that are composites, domains or arrays themselves load as PL/Python's too
        self._ensure(info.field_types)
        register_composite(info, self.conn, lambda *a: a, make_object=_make_dict)
