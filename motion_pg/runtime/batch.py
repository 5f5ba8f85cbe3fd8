"""Batch infer: a statement's rows go to the class's ``infer_batch(rows, ctx)`` in one call.

A BEFORE ROW trigger must hand each row back before it sees the next one, so batch mode cannot
buffer there. Instead an AFTER INSERT statement trigger with a transition table
(``motion_new_rows``) reads the statement's rows, calls ``infer_batch`` once (one state version
for the whole statement), and writes the outputs back with one ``UPDATE … FROM unnest(…)`` per set
of returned columns, matched on the primary key. Then, for a route with fit, it enqueues the rows as
stored (outputs included) with one set-based insert, so fit events carry what infer wrote.

While the write-back runs, the relation is marked (``backend.writing_back``, in this backend's
memory, where no client can set it): motion's own triggers on that relation neither infer again
nor enqueue fit events for it.

``infer_batch`` may not change primary key columns (the write-back and the fit events match rows
on them): a row whose output changes its key fails like any bad output (skipped under
``on_error = 'skip'``). Every generated statement qualifies each column with its alias and reads
whole rows as ``t.*``, so user columns named like the aliases (t, u, k0, v0, n) cannot capture them.

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

import time
from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from motion_pg.errors import InferError
from motion_pg.runtime import backend, latency, stamping, stamps, violations
from motion_pg.runtime.outputs import (
    convert_into,
    describe,
    infer_failed,
    must_propagate,
    span_text,
    user_traceback,
)
from motion_pg.runtime.routes import LoadedTrigger, Route

Outputs = list[dict[str, Any] | None]
_FAILED = object()  # a row whose infer failed (on_error = 'skip')
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
    if route.hidden:  # infer never sees lineage columns
        rows = [route.visible(r) for r in rows]
    if route.lineage_column is not None:
        stamping.fresh_stamp(plpy, loaded, route)
    sampled = latency.batch_statement(plpy, loaded.name)  # one statement in latency.EVERY
    try:
        started = time.perf_counter()
        outputs, flags = _infer(plpy, loaded, route, rows)
        if sampled:
            latency.record_batch(loaded.name, time.perf_counter() - started, len(rows))
        if loaded.settings.expect is not None:  # the rows as they will be stored
            stored = [{**r, **(o or {})} for r, o in zip(rows, outputs, strict=True)]
            violations.check_rows(plpy, loaded, route, stored)
        _write_back(plpy, loaded, route, relid, rows, outputs, flags)
    except plpy.Error as e:  # our report: CONTEXT shows this frame, not motion's internals
        raise e.with_traceback(None) from None
    if route.info.fit is not None:
        _enqueue(plpy, loaded, route, relid, rows)


def _call(route: Route) -> Any:
    if route.batch is not None:
        return route.batch
    method = route.method
    assert method is not None
    return lambda rows, ctx: [method(r, ctx) for r in rows]  # the class lost infer_batch


def _infer(
    plpy: Any, loaded: LoadedTrigger, route: Route, rows: list[dict[str, Any]]
) -> tuple[Outputs, list[int]]:
    """Each row's converted outputs (None: none), and what infer did (stamps flags)."""
    try:
        out = _call(route)(rows, route.ctx)
        _check_shape(out, len(rows))
    except BaseException as e:
        if must_propagate(plpy, e):
            raise
        if loaded.settings.on_error != "skip":
            plpy.error(
                f'motion trigger "{loaded.name}" infer_batch failed on {route.info.relation} '
                f"rows {span_text(route, rows)}: {describe(e)}",
                sqlstate=InferError.sqlstate,
                detail=user_traceback(e),
            )
        out = [_one(plpy, loaded, route, row) for row in rows]  # find the failing rows
    results: Outputs = []
    flags: list[int] = []
    keys = frozenset(route.key_columns)
    for row, o in zip(rows, out, strict=True):
        if o is _FAILED:
            results.append(None)
            flags.append(stamps.SKIPPED)
            continue
        converted: dict[str, Any] = {}
        problem = convert_into(plpy, route, o, converted, row=row, keys=keys) if o else None
        if problem is not None:
            infer_failed(plpy, loaded, route, row, problem, None)
        results.append(converted if converted and problem is None else None)
        flags.append(
            stamps.SKIPPED if problem is not None else stamps.WROTE if converted else stamps.NOTHING
        )
    return results, flags


def _check_shape(out: Any, n: int) -> None:
    if not isinstance(out, list | tuple) or len(out) != n:
        got = f"{len(out)} items" if isinstance(out, list | tuple) else type(out).__name__
        raise TypeError(
            f"infer_batch must return a list with one dict per row ({n} rows, got {got})"
        )


def _one(plpy: Any, loaded: LoadedTrigger, route: Route, row: dict[str, Any]) -> Any:
    try:
        out = _call(route)([row], route.ctx)
        _check_shape(out, 1)
        return out[0]
    except BaseException as e:
        if must_propagate(plpy, e):
            raise
        infer_failed(plpy, loaded, route, row, describe(e), e)
        return _FAILED


def _table(plpy: Any, relid: str) -> sql.Composable:
    found = backend.database(plpy).query(
        "SELECT n.nspname::text AS s, c.relname::text AS r FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid",
        [int(relid)],
    )
    return sql.Identifier(found[0]["s"], found[0]["r"])


def _array_types(
    plpy: Any, loaded: LoadedTrigger, route: Route, columns: Sequence[str]
) -> list[str]:
    """The schema-qualified array types of ``columns``, for unnest() parameters."""
    types: list[str] = []
    for c in columns:
        array_type = route.columns[c].array_type
        if array_type is None:  # an array column: Postgres has no arrays of arrays of a type
            plpy.error(
                f'motion trigger "{loaded.name}": batch mode cannot write array column "{c}" '
                f"of {route.info.relation}",
                sqlstate=InferError.sqlstate,
                hint="set WITH (infer_mode = 'row') and recreate the motion trigger",
            )
            raise AssertionError("plpy.error raised")
        types.append(array_type)
    return types


def _write_back(
    plpy: Any, loaded: LoadedTrigger, route: Route, relid: str, rows: list[dict[str, Any]],
    outputs: Outputs, flags: list[int],
) -> None:  # fmt: skip
    column = route.stamp_column
    groups: dict[tuple[tuple[str, ...], int], list[int]] = {}
    for i, out in enumerate(outputs):
        if out:
            groups.setdefault((tuple(out), stamps.WROTE), []).append(i)
        elif column is not None:  # stamped too: infer ran and returned nothing, or failed
            groups.setdefault(((), flags[i]), []).append(i)
    if not groups:
        return
    keys = route.key_columns
    stamped: dict[tuple[tuple[str, ...], int], bytes] = {}
    if column is not None:
        for (columns, flag), members in groups.items():
            first = outputs[members[0]]
            stamped[(columns, flag)] = (
                route.stamp_for(first) if first else stamps.with_flags(route.stamp, flag)
            )
        stamping.batch_stamps[(loaded.name, column)] = set(stamped.values())
    backend.writing_back.add(relid)
    try:
        for (columns, flag), members in groups.items():
            plan = _update_plan(plpy, loaded, route, relid, keys, columns, column)
            extra = [stamped[(columns, flag)]] if column is not None else []
            try:
                plan.execute(_arrays(keys, columns, rows, outputs, members) + extra)
            except plpy.SPIError as e:
                if must_propagate(plpy, e):
                    raise
                # the failed UPDATE rolled back as a whole: write row by row to name the rows
                for i in members:
                    try:
                        plan.execute(_arrays(keys, columns, rows, outputs, [i]) + extra)
                    except plpy.SPIError as row_error:
                        if must_propagate(plpy, row_error):
                            raise
                        what = f"writing {', '.join(map(repr, columns))} failed: {row_error}"
                        infer_failed(plpy, loaded, route, rows[i], what, None)
    finally:
        backend.writing_back.discard(relid)
        if column is not None:
            stamping.batch_stamps.pop((loaded.name, column), None)


def _arrays(
    keys: list[str], columns: tuple[str, ...], rows: list[dict[str, Any]], outputs: Outputs,
    members: list[int],
) -> list[Any]:  # fmt: skip
    arrays: list[Any] = [[rows[i][k] for i in members] for k in keys]
    arrays += [[outputs[i][c] for i in members] for c in columns]  # type: ignore[index]
    return arrays


def _update_plan(
    plpy: Any, loaded: LoadedTrigger, route: Route, relid: str, keys: list[str],
    columns: tuple[str, ...], stamp_column: str | None,
) -> Any:  # fmt: skip
    cache_key = ("update", relid, tuple(keys), columns, stamp_column)
    plan = _plans.get(cache_key)
    if plan is not None:
        return plan
    types = _array_types(plpy, loaded, route, [*keys, *columns])
    k_alias = [sql.Identifier(f"k{i}") for i in range(len(keys))]
    v_alias = [sql.Identifier(f"v{i}") for i in range(len(columns))]
    sets = [
        sql.SQL("{} = u.{}").format(sql.Identifier(c), a)
        for c, a in zip(columns, v_alias, strict=True)
    ]
    if stamp_column is not None:  # the statement's stamp, one value for the whole group
        stamp_param = sql.SQL(f"${len(types) + 1}")
        sets.append(sql.SQL("{} = {}").format(sql.Identifier(stamp_column), stamp_param))
    statement = sql.SQL(
        "UPDATE {table} AS t SET {sets} FROM unnest({params}) AS u({aliases}) WHERE {match}"
    ).format(
        table=_table(plpy, relid),
        sets=sql.SQL(", ").join(sets),
        params=sql.SQL(", ").join(sql.SQL(f"${i + 1}") for i in range(len(types))),
        aliases=sql.SQL(", ").join([*k_alias, *v_alias]),
        match=_match(keys, k_alias),
    )
    if stamp_column is not None:
        types = [*types, "pg_catalog.bytea"]
    plan = _plans[cache_key] = plpy.prepare(statement.as_string(None), types)
    return plan


def _match(keys: list[str], aliases: list[sql.Identifier]) -> sql.Composable:
    return sql.SQL(" AND ").join(
        sql.SQL("t.{} = u.{}").format(sql.Identifier(k), a)
        for k, a in zip(keys, aliases, strict=True)
    )


def _enqueue(
    plpy: Any, loaded: LoadedTrigger, route: Route, relid: str, rows: list[dict[str, Any]]
) -> None:
    keys = route.key_columns
    cache_key = ("enqueue", relid, tuple(keys), route.hidden)
    plan = _plans.get(cache_key)
    if plan is None:
        types = _array_types(plpy, loaded, route, keys)
        k_alias = [sql.Identifier(f"k{i}") for i in range(len(keys))]
        # t.* is the whole row even when the relation has a column named t; events carry the
        # user's row, without lineage columns
        strip = (
            sql.SQL(" OPERATOR(pg_catalog.-) {}::pg_catalog.text[]").format(
                sql.Literal(list(route.hidden))
            )
            if route.hidden
            else sql.SQL("")
        )
        statement = sql.SQL(
            "INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data) "
            "SELECT $1, $2, $3, 'INSERT', pg_catalog.to_jsonb(t.*){strip} "
            "FROM unnest({params}) WITH ORDINALITY AS u({aliases}, n) "
            "JOIN {table} AS t ON {match} ORDER BY u.n"
        ).format(
            strip=strip,
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


# backfill (motion_pg.runtime.backfill) infers stored rows exactly as a batch insert does
infer_rows = _infer
write_back = _write_back
