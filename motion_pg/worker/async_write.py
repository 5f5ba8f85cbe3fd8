"""Reading async rows by primary key and writing their outputs back, guarded by row version.

Every statement is built with :mod:`psycopg.sql` (identifiers quoted), reads whole rows as ``t.*``
next to motion's own values by position (never by a name a user column could take), and matches
rows on their primary key through ``jsonb_populate_record`` over the relation's own row type, so
keys and outputs are converted by the column types' input functions.
"""

from __future__ import annotations

import decimal
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from motion_pg.pg import PgDatabase
from motion_pg.runtime.values import CannotHold, Unchecked, ValueMismatch
from motion_pg.worker.async_serving import AsyncRoute
from motion_pg.worker.pgtypes import TypedDatabase

# (index, primary key, xmin read, encoded outputs or None, stamp or None)
Write = tuple[int, dict[str, Any], str, dict[str, Any] | None, bytes | None]


def _match(route: AsyncRoute) -> sql.Composable:
    return sql.SQL(" AND ").join(
        sql.SQL("t.{c} = k.{c}").format(c=sql.Identifier(c)) for c in route.key_columns
    )


def read_rows(
    db: TypedDatabase, route: AsyncRoute, keys: Sequence[dict[str, Any]]
) -> dict[int, tuple[str, dict[str, Any]]]:
    """The rows with primary keys ``keys`` that still exist: index in ``keys`` → (xmin, the row as
    infer sees it, with the values PL/Python gives and without lineage columns)."""
    statement = sql.SQL(
        "SELECT (u.n - 1)::pg_catalog.int4, t.xmin::pg_catalog.text, t.* "
        "FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) WITH ORDINALITY AS u(k, n) "
        "CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::{table}, u.k) AS k "
        "JOIN {table} AS t ON {match}"
    ).format(table=route.table, match=_match(route))
    names, rows = db.fetch(statement.as_string(None), [json.dumps(list(keys))])
    found: dict[int, tuple[str, dict[str, Any]]] = {}
    for r in rows:
        row = {n: v for n, v in zip(names[2:], r[2:], strict=True) if n not in route.hidden}
        found[int(r[0])] = (str(r[1]), row)
    return found


def encode_outputs(route: AsyncRoute, out: Any) -> tuple[dict[str, Any] | None, str | None]:
    """``out`` (what infer returned for a row) checked against the relation's columns and encoded
    as JSON values their input functions read; or what is wrong with it."""
    if not isinstance(out, dict):
        return None, f"infer must return a dict of column values or None, got {type(out).__name__}"
    encoded: dict[str, Any] = {}
    for column, value in out.items():
        described = route.columns.get(column)
        if described is None or column in route.hidden:
            names = ", ".join(c for c in route.columns if c not in route.hidden)
            return None, (f"infer returned column {column!r}, which {route.info.relation} does not "
                          f"have (columns: {names})")  # fmt: skip
        if column in route.key_columns:
            return None, (f"infer returned primary key column {column!r}; async infer writes "
                          "outputs back by the primary key, which it may not change")  # fmt: skip
        if value is None:
            if described.not_null:
                return None, f"infer returned None for NOT NULL column {column!r}"
            encoded[column] = None
            continue
        try:
            converted = route.converters[column](value)
        except (ValueMismatch, CannotHold) as e:
            return None, f"column {column!r} ({described.type}) cannot hold {value!r}: {e}"
        if isinstance(converted, Unchecked):
            converted = converted.value
        if described.type_name in ("json", "jsonb") and isinstance(converted, str):
            encoded[column] = json.loads(converted)
        else:
            encoded[column] = _json_value(converted)
    return encoded, None


def _json_value(v: Any) -> Any:
    """A Python value as the JSON value whose text the column type's input function reads."""
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return (
            v
            if math.isfinite(v)
            else ("NaN" if math.isnan(v) else str(v).replace("inf", "Infinity"))
        )
    if isinstance(v, bytes | bytearray | memoryview):
        return "\\x" + bytes(v).hex()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, np.ndarray):
        return [_json_value(x) for x in v.tolist()]
    if isinstance(v, np.generic):
        return _json_value(v.item())
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    return str(v)
    return str(v)


def _update(route: AsyncRoute, columns: tuple[str, ...], stamp: bool) -> str:
    sets = [sql.SQL("{c} = r.{c}").format(c=sql.Identifier(c)) for c in columns]
    if stamp:
        assert route.lineage_column is not None
        sets.append(sql.SQL("{} = pg_catalog.decode(u.e ->> 's', 'hex')").format(
            sql.Identifier(route.lineage_column)))  # fmt: skip
    return (
        sql.SQL(
            "UPDATE {table} AS t SET {sets} "
            "FROM pg_catalog.jsonb_array_elements($1::pg_catalog.jsonb) AS u(e) "
            "CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::{table}, u.e -> 'k') AS k "
            "CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::{table}, u.e -> 'v') AS r "
            "WHERE {match} AND t.xmin = (u.e ->> 'x')::pg_catalog.xid "
            "RETURNING (u.e ->> 'i')::pg_catalog.int4"
        )
        .format(table=route.table, sets=sql.SQL(", ").join(sets), match=_match(route))
        .as_string(None)
    )


def write_rows(
    db: PgDatabase, route: AsyncRoute, writes: Sequence[Write], trigger: str | None = None
) -> tuple[set[int], dict[int, str]]:
    """Write the outputs (and stamps) of ``writes`` of motion trigger ``trigger`` where each row
    still has the version infer read; returns (indexes written, or with nothing to write; indexes
    refused → why). Rows not in either were written again meanwhile: they are inferred again.
    Routes chained on ``trigger``'s outputs infer the write-back; other routes skip it."""
    groups: dict[tuple[tuple[str, ...], bool], list[Write]] = {}
    written: set[int] = set()
    for w in writes:
        columns = tuple(sorted(w[3])) if w[3] else ()
        if not columns and w[4] is None:
            written.add(w[0])  # infer returned nothing and there is no stamp to write
            continue
        groups.setdefault((columns, w[4] is not None), []).append(w)
    refused: dict[int, str] = {}
    if not groups:
        return written, refused
    db.query(query_mark, [trigger])
    try:
        for (columns, stamp), members in groups.items():
            statement = _update(route, columns, stamp)
            try:
                with db.conn.transaction():
                    written.update(_run(db, statement, members))
            except psycopg.Error as e:  # find the rows the columns' input functions refuse
                if isinstance(e, psycopg.OperationalError):
                    raise
                for w in members:
                    try:
                        with db.conn.transaction():
                            written.update(_run(db, statement, [w]))
                    except psycopg.Error as row_error:
                        if isinstance(row_error, psycopg.OperationalError):
                            raise
                        refused[w[0]] = (
                            f"writing {', '.join(map(repr, columns))} failed: {str(row_error).strip()}"
                        )
    finally:
        db.query(query_unmark, [])
    return written, refused


def _run(db: PgDatabase, statement: str, members: Sequence[Write]) -> set[int]:
    payload = [
        {"i": i, "k": key, "x": xmin, "v": values or {}, "s": stamp.hex() if stamp else None}
        for i, key, xmin, values, stamp in members
    ]
    return {int(next(iter(r.values()))) for r in db.query(statement, [json.dumps(payload)])}


# the write-back mark: motion's triggers skip this transaction's writes (motion._async_writing)
query_mark = (
    "WITH s AS (SELECT pg_catalog.set_config('motion.async_writeback', 'on', true)) "
    "INSERT INTO motion.async_writebacks (xact, trigger_name) "
    "SELECT pg_catalog.pg_current_xact_id(), $1::text FROM s "
    "ON CONFLICT (xact) DO UPDATE SET trigger_name = EXCLUDED.trigger_name"
)
query_unmark = (
    "WITH s AS (SELECT pg_catalog.set_config('motion.async_writeback', '', true)) "
    "DELETE FROM motion.async_writebacks w USING s WHERE w.xact = pg_catalog.pg_current_xact_id()"
)
