"""Which rows a backfill run visits (:mod:`motion_pg.runtime.backfill`): the count when it starts,
the next page of a chunk (locked, in primary-key order after the last key visited) and which rows a
writer already inferred since the run began.

A lineage stamp of format 1 holds (version, deploy) as two big-endian u32 at bytes 5-12, one of
format 2 holds them from byte 3 on in an encoding that compares like the pair
(:mod:`motion_pg.runtime.stamps`): STALE is one bytes comparison in SQL either way.
"""

from __future__ import annotations

import struct
from typing import Any

from psycopg import sql

from motion_pg.queries import query
from motion_pg.runtime import backend, stamps
from motion_pg.runtime.routes import LoadedTrigger, Route


def key_alias(route: Route) -> str:
    """The page's key column: a name no column of the relation has."""
    alias = "motion_backfill_key"
    while alias in route.columns:
        alias += "_"
    return alias


def _serving(loaded: LoadedTrigger) -> bytes:
    """(version, deploy) as the 8 bytes a format 1 stamp holds them in, then as a format 2 stamp
    does (:func:`stamps.serving`): bytes compare like the tuple."""
    version = max(loaded.version, 0)
    return struct.pack(">II", version, loaded.deploy_id) + stamps.serving(version, loaded.deploy_id)


def _filter(route: Route, mode: str, condition: str | None, first: int) -> sql.Composable:
    """The rows a run visits: the condition, and in STALE mode an older stamp (param ``first``)."""
    parts: list[sql.Composable] = []
    if condition is not None:
        parts.append(sql.SQL("(\n{}\n)").format(sql.SQL(condition)))
    if mode == "stale":
        lin = sql.Identifier(route.lineage_column or "")
        parts.append(sql.SQL(
            "(t.{lin} IS NULL OR CASE WHEN pg_catalog.substr(t.{lin}, 1, 1) "
            "OPERATOR(pg_catalog.=) '\\x01'::pg_catalog.bytea "
            "THEN pg_catalog.substr(t.{lin}, 5, 8) "
            "OPERATOR(pg_catalog.<) pg_catalog.substr(${n}::pg_catalog.bytea, 1, 8) "
            "ELSE pg_catalog.substr(t.{lin}, 3) "
            "OPERATOR(pg_catalog.<) pg_catalog.substr(${n}::pg_catalog.bytea, 9) END)"
        ).format(lin=lin, n=sql.SQL(str(first))))  # fmt: skip
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")


def count(plpy: Any, loaded: LoadedTrigger, route: Route, mode: str, condition: str | None) -> int:
    statement = sql.SQL("SELECT pg_catalog.count(*) AS n FROM {} AS t WHERE {}").format(
        _table(plpy, route), _filter(route, mode, condition, 1)
    )
    args, types = ([_serving(loaded)], ["pg_catalog.bytea"]) if mode == "stale" else ([], [])
    plan = plpy.prepare(statement.as_string(None), types)
    return int(plpy.execute(plan, args)[0]["n"])


def page(
    plpy: Any, loaded: LoadedTrigger, route: Route, run: dict[str, Any], chunk: int
) -> list[dict[str, Any]]:
    """The next ``chunk`` rows of the run on ``route``, locked, each with its key as text."""
    # prepared per chunk, never cached: an ALTER TABLE would change what t.* returns
    mode, condition = run["mode"], run["condition"]
    keys = [sql.Identifier(k) for k in route.key_columns]
    types = [
        r["type"] for r in backend.database(plpy).query(
            query("backfill_key_types"), [int(route.relid), route.key_columns])
    ]  # fmt: skip
    t_keys = sql.SQL(", ").join(sql.SQL("t.{}").format(k) for k in keys)
    after = sql.SQL(", ").join(
        sql.SQL("($1::pg_catalog.text[])[{}]::{}").format(sql.SQL(str(i + 1)), sql.SQL(ty))
        for i, ty in enumerate(types)
    )
    as_text = sql.SQL(", ").join(sql.SQL("t.{}::pg_catalog.text").format(k) for k in keys)
    statement = sql.SQL(
        "SELECT t.*, ARRAY[{as_text}] AS {alias} FROM {table} AS t "
        "WHERE ($1::pg_catalog.text[] IS NULL OR ROW({t_keys}) > ROW({after})) AND {filter} "
        "ORDER BY {t_keys} LIMIT $2 FOR UPDATE OF t"
    ).format(as_text=as_text, alias=sql.Identifier(key_alias(route)), table=_table(plpy, route),
             t_keys=t_keys, after=after, filter=_filter(route, mode, condition, 3))  # fmt: skip
    arg_types = ["pg_catalog.text[]", "pg_catalog.int8"]
    if mode == "stale":
        arg_types.append("pg_catalog.bytea")
    plan = plpy.prepare(statement.as_string(None), arg_types)
    args: list[Any] = [run["last_key"], chunk]
    if mode == "stale":
        args.append(_serving(loaded))
    return [dict(r) for r in plpy.execute(plan, args)]


def fresh(loaded: LoadedTrigger, route: Route, row: dict[str, Any], run: dict[str, Any]) -> bool:
    """ALL mode: whether the row was stamped since the run started with the serving version and
    deploy or newer ones (a concurrent writer inferred it already)."""
    column = route.lineage_column
    raw = row.get(column) if column is not None and run["mode"] == "all" else None
    if raw is None:
        return False
    try:
        stamp = stamps.decode(bytes(raw))
    except ValueError:
        return False
    serving = (max(loaded.version, 0), loaded.deploy_id)
    return stamp.micros >= run["started_micros"] and (stamp.version, stamp.deploy) >= serving


def _table(plpy: Any, route: Route) -> sql.Composable:
    found = backend.database(plpy).query(query("backfill_relation"), [int(route.relid)])
    return sql.Identifier(found[0]["schema"], found[0]["name"])
