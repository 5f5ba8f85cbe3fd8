"""Batch infer: a statement's rows go to the class's ``infer_batch(rows, ctx)`` in one call.

A BEFORE ROW trigger must hand each row back before it sees the next one, so batch mode cannot
buffer there. Instead an AFTER INSERT statement trigger with a transition table
(``motion_new_rows``) reads the statement's rows, calls ``infer_batch`` once (one state version
for the whole statement), and writes the outputs back with one ``UPDATE … FROM unnest(…)`` per set
of returned columns, matched on the primary key. Then, for a route with fit, it enqueues the rows as
stored (outputs included) with one set-based insert, so fit events carry what infer wrote.

While the write-back runs, the relation is marked in ``backend.writing_back`` (this backend's
memory, which ``motion._writing_back`` reads for the SQL enqueue triggers): motion's own triggers on
that relation neither infer again nor enqueue fit events for it.

Visible differences from row mode:

- ``INSERT … RETURNING`` (and triggers of other tools running before the write-back) see the row
  as inserted, without the outputs: they are written by the write-back at the end of the statement.
- the write-back is an UPDATE: non-motion UPDATE triggers on the relation fire for it, and each
  inferred row is written twice (dead tuples until vacuum).
- other motion triggers' fit routes on the same relation enqueue the row as inserted.
- UPDATEs of a batch-mode route are inferred row by row (``infer_batch`` on a batch of one row,
  or ``infer`` when the class defines it too), exactly as in row mode.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from motion_pg.runtime import backend
from motion_pg.trigger import Context

_plans: dict[tuple[Any, ...], Any] = {}


def infer_inserted(plpy: Any, td: Mapping[str, Any]) -> None:
    """AFTER INSERT FOR EACH STATEMENT: infer the statement's rows in one ``infer_batch`` call."""
    relid = td["relid"]
    if relid in backend.writing_back:
        return
    loaded = backend.refresh(plpy, td["args"][0] if td["args"] else "")
    route = backend.route_for(plpy, loaded, td)
    if not loaded.enabled:
        return
    rows: list[dict[str, Any]] = list(plpy.execute("SELECT * FROM motion_new_rows"))
    if not rows:
        return
    outputs = _infer(plpy, loaded, route, rows)
    _write_back(plpy, loaded, route, relid, rows, outputs)
    if route.info.fit is not None:
        _enqueue(plpy, loaded, route, relid, rows)


def one_row(batch: Any) -> Any:
    """Row mode for a class that defines only ``infer_batch``: a batch of one row."""

    def infer(row: dict[str, Any], ctx: Context) -> Any:
        out = batch([row], ctx)
        if not isinstance(out, list | tuple) or len(out) != 1:
            raise TypeError(
                f"infer_batch must return a list with one dict per row (1 row, got {backend._short(out)})"
            )
        return out[0]

    return infer


def _call(route: Any) -> Any:
    if route.batch is not None:
        return route.batch
    return lambda rows, ctx: [route.method(r, ctx) for r in rows]  # the class lost infer_batch


def _infer(
    plpy: Any, loaded: Any, route: Any, rows: list[dict[str, Any]]
) -> list[dict[str, Any] | None]:
    try:
        out = _call(route)(rows, route.ctx)
        _check_shape(out, len(rows))
    except Exception as e:
        if loaded.settings.on_error == "skip":
            out = [_one(plpy, loaded, route, row) for row in rows]  # find the failing rows
        else:
            first, last = (_key(route, rows[0]), _key(route, rows[-1]))
            span = first if len(rows) == 1 else f"{first} … {last} ({len(rows)} rows)"
            plpy.error(
                f'motion trigger "{loaded.name}" infer_batch failed on {route.info.relation} '
                f"rows {span}: {type(e).__name__}: {e}",
                detail="".join(traceback.format_exception(e)),
            )
    results: list[dict[str, Any] | None] = []
    for row, o in zip(rows, out, strict=True):
        converted: dict[str, Any] = {}
        problem = backend.convert_into(route, o, converted) if o else None
        if problem is not None:
            backend.infer_failed(plpy, loaded, route, row, problem, None)
        results.append(converted if converted and problem is None else None)
    return results


def _check_shape(out: Any, n: int) -> None:
    if not isinstance(out, list | tuple) or len(out) != n:
        got = f"{len(out)} items" if isinstance(out, list | tuple) else type(out).__name__
        raise TypeError(
            f"infer_batch must return a list with one dict per row ({n} rows, got {got})"
        )


def _one(plpy: Any, loaded: Any, route: Any, row: dict[str, Any]) -> Any:
    try:
        out = _call(route)([row], route.ctx)
        _check_shape(out, 1)
        return out[0]
    except Exception as e:
        return backend.infer_failed(plpy, loaded, route, row, f"{type(e).__name__}: {e}", e)


def _key(route: Any, row: Mapping[str, Any]) -> str:
    return backend.key_text({c: row.get(c) for c in route.key_columns})


def _table(plpy: Any, relid: str) -> sql.Composable:
    found = backend.database(plpy).query(
        "SELECT n.nspname::text AS s, c.relname::text AS r FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid",
        [int(relid)],
    )
    return sql.Identifier(found[0]["s"], found[0]["r"])


def _array_types(plpy: Any, loaded: Any, route: Any, columns: Sequence[str]) -> list[str]:
    types = []
    for c in columns:
        typname = route.types[c]
        if typname.startswith("_"):
            plpy.error(
                f'motion trigger "{loaded.name}": batch mode cannot write array column "{c}" '
                f"of {route.info.relation}",
                hint="set WITH (infer_mode = 'row') and recreate the motion trigger",
            )
        types.append(f"{typname}[]")
    return types


def _write_back(
    plpy: Any, loaded: Any, route: Any, relid: str, rows: list[dict[str, Any]],
    outputs: list[dict[str, Any] | None],
) -> None:  # fmt: skip
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, out in enumerate(outputs):
        if out:
            groups.setdefault(tuple(out), []).append(i)
    if not groups:
        return
    keys = route.key_columns
    backend.writing_back.add(relid)
    try:
        for columns, members in groups.items():
            plan = _update_plan(plpy, loaded, route, relid, keys, columns)
            arrays = [[rows[i][k] for i in members] for k in keys]
            arrays += [[outputs[i][c] for i in members] for c in columns]  # type: ignore[index]
            plan.execute(arrays)
    finally:
        backend.writing_back.discard(relid)


def _update_plan(
    plpy: Any, loaded: Any, route: Any, relid: str, keys: list[str], columns: tuple[str, ...]
) -> Any:
    cache_key = ("update", relid, tuple(keys), columns)
    plan = _plans.get(cache_key)
    if plan is not None:
        return plan
    types = _array_types(plpy, loaded, route, [*keys, *columns])
    k_alias = [sql.Identifier(f"k{i}") for i in range(len(keys))]
    v_alias = [sql.Identifier(f"v{i}") for i in range(len(columns))]
    statement = sql.SQL(
        "UPDATE {table} AS t SET {sets} FROM unnest({params}) AS u({aliases}) WHERE {match}"
    ).format(
        table=_table(plpy, relid),
        sets=sql.SQL(", ").join(
            sql.SQL("{} = u.{}").format(sql.Identifier(c), a)
            for c, a in zip(columns, v_alias, strict=True)
        ),
        params=sql.SQL(", ").join(sql.SQL(f"${i + 1}") for i in range(len(types))),
        aliases=sql.SQL(", ").join([*k_alias, *v_alias]),
        match=_match(keys, k_alias),
    )
    plan = _plans[cache_key] = plpy.prepare(statement.as_string(None), types)
    return plan


def _match(keys: list[str], aliases: list[sql.Identifier]) -> sql.Composable:
    return sql.SQL(" AND ").join(
        sql.SQL("t.{} = u.{}").format(sql.Identifier(k), a)
        for k, a in zip(keys, aliases, strict=True)
    )


def _enqueue(plpy: Any, loaded: Any, route: Any, relid: str, rows: list[dict[str, Any]]) -> None:
    keys = route.key_columns
    cache_key = ("enqueue", relid, tuple(keys))
    plan = _plans.get(cache_key)
    if plan is None:
        types = _array_types(plpy, loaded, route, keys)
        k_alias = [sql.Identifier(f"k{i}") for i in range(len(keys))]
        statement = sql.SQL(
            "INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data) "
            "SELECT $1, $2, $3, 'INSERT', pg_catalog.to_jsonb(t) "
            "FROM unnest({params}) WITH ORDINALITY AS u({aliases}, n) "
            "JOIN {table} AS t ON {match} ORDER BY u.n"
        ).format(
            params=sql.SQL(", ").join(sql.SQL(f"${i + 4}") for i in range(len(keys))),
            aliases=sql.SQL(", ").join(k_alias),
            table=_table(plpy, relid),
            match=_match(keys, k_alias),
        )
        plan = _plans[cache_key] = plpy.prepare(
            statement.as_string(None), ["text", "int4", "text", *types]
        )
    arrays = [[row[k] for row in rows] for k in keys]
    plan.execute([loaded.name, route.info.ordinal, route.info.relation, *arrays])
    # a wake-up only, naming nothing: any role may LISTEN on the channel
    backend.database(plpy).query("SELECT pg_catalog.pg_notify('motion_jobs', '')")
