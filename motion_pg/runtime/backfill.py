"""Backfill: re-infer the rows already stored, in small transactions, resumable.

A run (a row of ``motion.backfills``) visits each infer route's relation in primary-key order, one
chunk per call of :func:`step` (keyset pagination: ``WHERE key > last ORDER BY key LIMIT n FOR
UPDATE``). Each chunk's rows are locked, inferred with the serving version exactly as a batch
insert would infer them (``infer_batch`` where the class defines it), and written back with one
``UPDATE … FROM unnest(…)`` per set of outputs; the run's progress advances in the same
transaction, so a run killed at any point resumes after the last chunk that committed.

The write-back must neither re-infer, nor enqueue fit events, nor fire other motion triggers. It
is recognised the way a batch write-back is: the relation (and its partitions) is in
``backend.writing_back`` — this backend's memory, which no client can set — while motion's own
UPDATE runs. The enqueue and lineage-guard functions ask that memory (``motion._writing_back``)
only when ``pg_trigger_depth() > 1`` or the transaction-local setting ``motion.backfilling`` is
``on``: a cheap pre-filter that carries no authority (a client setting it only makes them ask).

Concurrent writers keep working: a chunk locks only its own rows, for one short transaction. A row
a writer updates while its chunk runs waits, then is re-inferred by the writer's own statement
with the serving version. In ``ALL`` mode a row stamped since the run started with the serving
version (or a newer one) is not inferred again; in ``STALE`` mode only rows whose stamp names an
older version or deploy than the serving one (or no stamp) are visited.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from motion_pg.dsl import parse
from motion_pg.dsl.spec import AlterMotionTrigger, Backfill
from motion_pg.errors import (
    DefinitionError,
    InferError,
    MotionError,
    MotionSyntaxError,
    raise_in_server,
    unknown_trigger,
)
from motion_pg.queries import query
from motion_pg.runtime import backend, backfill_rows, batch, stamping
from motion_pg.runtime.routes import LoadedTrigger, Route

CHUNK = 1000  # rows per transaction, by default
INLINE_ROWS = 10_000  # CREATE … WITH (backfill = true) and ALTER … BACKFILL infer this many inline


def entry(plpy: Any, function: Callable[..., dict[str, Any]], *args: Any) -> str:
    """``motion.backfill_start`` and ``motion.backfill_step``: ``function`` on ``args``, its run
    as jsonb text; a :class:`MotionError` raised with its SQLSTATE and hint."""
    try:
        run = function(plpy, *args)
    except MotionError as e:
        raise_in_server(plpy, e)
    run.pop("started_micros", None)
    return json.dumps(run, default=str)


def check_condition(condition: str | None) -> str | None:
    """The WHERE ``condition`` as it is run (inside parentheses): refused unless it is one balanced
    SQL condition (no ``;``, no ``/*`` comment that could hide a parenthesis)."""
    if condition is None or not condition.strip():
        return None
    if "/*" in condition:
        raise MotionSyntaxError("a backfill condition cannot contain /* comments */")
    try:
        found = parse(f"ALTER MOTION TRIGGER x BACKFILL WHERE {condition}")
    except MotionSyntaxError as e:
        raise MotionSyntaxError(f"invalid backfill condition {condition!r}: {e.message}") from None
    statement = found[0] if len(found) == 1 else None
    action = statement.action if isinstance(statement, AlterMotionTrigger) else None
    if not isinstance(action, Backfill):
        raise MotionSyntaxError(f"invalid backfill condition {condition!r}: one condition only")
    return action.where


def start(plpy: Any, trigger: str, stale: bool, condition: str | None) -> dict[str, Any]:
    """Start a run for ``trigger`` (or resume its running run when it has the same intent; a
    running run with another intent is superseded); returns the run's row."""
    db = backend.database(plpy)
    condition = check_condition(condition)
    loaded = _loaded(plpy, trigger)
    routes = _routes(loaded, stale)
    mode = "stale" if stale else "all"
    running = db.query(query("backfill_running"), [trigger])
    if running:
        run = running[0]
        if run["mode"] == mode and run["condition"] == condition:
            return dict(run, resumed=True)
        db.query(query("backfill_supersede"), [run["id"]])
        plpy.notice(f'motion trigger "{trigger}": backfill run {run["id"]} is superseded')
    total = sum(backfill_rows.count(plpy, loaded, r, mode, condition) for r in routes)
    try:
        found = db.query(query("backfill_insert"), [trigger, mode, condition,
                                                    routes[0].info.ordinal, total])  # fmt: skip
    except plpy.SPIError as e:
        if getattr(e, "sqlstate", None) != "23505":  # unique_violation: lost the race
            raise
        raise _already_running(db, trigger) from None
    return dict(found[0], resumed=False)


def _already_running(db: Any, trigger: str) -> DefinitionError:
    """Another session started a run of ``trigger`` at the same moment (one running run per
    trigger): say which, and what to do."""
    found = db.query(query("backfill_running_run"), [trigger])
    if not found:
        return DefinitionError(
            f'motion trigger "{trigger}": another session started a backfill run at the same '
            "moment, and it has ended already",
            hint="see motion.backfills; start again if rows are left",
        )
    run = found[0]
    where = f", WHERE {run['condition']}" if run["condition"] else ""
    return DefinitionError(
        f'motion trigger "{trigger}": backfill run {run["id"]} ({run["mode"].upper()}{where}) was '
        f"started by {run['started_by']} at the same moment and is running ({run['visited']} of "
        f"{run['total']} rows visited)",
        hint=f"follow or resume it with `motion-pg backfill {trigger}` and the same options, or "
        "wait for it; a different --stale/--where supersedes it once it is no longer starting",
    )


def step(plpy: Any, run_id: int, chunk: int = CHUNK) -> dict[str, Any]:
    """Re-infer the next chunk of run ``run_id`` in the caller's transaction; returns the run's row
    after it (``state`` ``'done'`` once every route is visited)."""
    if chunk < 1:
        raise DefinitionError(f"backfill chunk must be a positive number of rows, got {chunk}")
    db = backend.database(plpy)
    found = db.query(query("backfill_lock"), [run_id])
    if not found:
        raise DefinitionError(f"backfill run {run_id} does not exist",
                              hint="see motion.backfills")  # fmt: skip
    run = found[0]
    if run["state"] != "running":
        return dict(run)
    loaded = _loaded(plpy, run["trigger_name"])
    routes = _routes(loaded, run["mode"] == "stale")
    route = loaded.routes.get(run["route"])
    if route is None or route.method is None:  # the trigger was replaced meanwhile
        raise DefinitionError(
            f'motion trigger "{loaded.name}" has no infer route {run["route"]} any more: backfill '
            f"run {run_id} cannot go on",
            hint=f"start a new one: ALTER MOTION TRIGGER {loaded.name} BACKFILL",
        )
    rows = backfill_rows.page(plpy, loaded, route, run, chunk)
    alias = backfill_rows.key_alias(route)
    keys = [r.pop(alias) for r in rows]
    todo = [r for r in rows if not backfill_rows.fresh(loaded, route, r, run)]
    if todo:
        _infer(plpy, loaded, route, todo)
    ordinal: int | None = route.info.ordinal
    last_key = keys[-1] if keys else run["last_key"]
    if len(rows) < chunk:  # this route is done: on to the next one
        later = [r.info.ordinal for r in routes if r.info.ordinal > route.info.ordinal]
        ordinal, last_key = (later[0], None) if later else (None, None)
    after = db.query(query("backfill_advance"), [run_id, ordinal, last_key, len(rows), len(todo)])
    return dict(after[0])


def supersede(plpy: Any, trigger: str) -> None:
    """Supersede the running run of ``trigger`` (its routes are being replaced)."""
    db = backend.database(plpy)
    for run in db.query(query("backfill_running"), [trigger]):
        db.query(query("backfill_supersede"), [run["id"]])
        plpy.notice(f'motion trigger "{trigger}": backfill run {run["id"]} is superseded')


def _loaded(plpy: Any, trigger: str) -> LoadedTrigger:
    if not backend.database(plpy).query(query("trigger_serving"), [trigger]):
        raise unknown_trigger(trigger)
    loaded = backend.refresh(plpy, trigger)
    if not loaded.enabled:
        raise DefinitionError(
            f'motion trigger "{trigger}" is disabled: a backfill would infer nothing',
            hint=f"ALTER MOTION TRIGGER {trigger} ENABLE first",
        )
    return loaded


def _routes(loaded: LoadedTrigger, stale: bool) -> list[Route]:
    routes = [r for _, r in sorted(loaded.routes.items()) if r.method is not None]
    if not routes:
        raise DefinitionError(f'motion trigger "{loaded.name}" has no infer route to backfill')
    for r in routes:
        if not r.key_columns:
            raise DefinitionError(
                f'motion trigger "{loaded.name}": {r.info.relation} has no primary key; backfill '
                "visits rows in key order",
                hint=f"add one: ALTER TABLE {r.info.relation} ADD PRIMARY KEY (…)",
            )
        if stale and (r.lineage_column is None or not loaded.settings.lineage):
            raise DefinitionError(
                f'motion trigger "{loaded.name}": BACKFILL STALE reads lineage stamps, but '
                f"{r.info.relation} has no lineage column for it (or lineage = false)",
                hint=f"ALTER MOTION TRIGGER {loaded.name} SET (lineage = true) adds it; or "
                "BACKFILL ALL",
            )
    return routes


def _infer(plpy: Any, loaded: LoadedTrigger, route: Route, rows: list[dict[str, Any]]) -> None:
    visible = [route.visible(r) for r in rows] if route.hidden else rows
    if route.lineage_column is not None:
        stamping.fresh_stamp(plpy, loaded, route)
    db = backend.database(plpy)
    partitions = [str(r["relid"]) for r in db.query(query("backfill_partitions"),
                                                    [int(route.relid)])]  # fmt: skip
    added = [p for p in partitions if p not in backend.writing_back]
    db.query("SELECT pg_catalog.set_config('motion.backfilling', 'on', true)")
    backend.writing_back.update(added)
    try:
        outputs, flags = batch.infer_rows(plpy, loaded, route, visible)
        _check_arrays(loaded, route, outputs)
        batch.write_back(plpy, loaded, route, route.relid, visible, outputs, flags)
    except plpy.Error as e:  # our report: CONTEXT shows this frame, not motion's internals
        raise e.with_traceback(None) from None
    finally:
        backend.writing_back.difference_update(added)
        db.query("SELECT pg_catalog.set_config('motion.backfilling', '', true)")


def _check_arrays(loaded: LoadedTrigger, route: Route, outputs: list[Any]) -> None:
    """Refuse outputs for array columns, with a hint that fits backfill: a chunk is written back
    with one UPDATE from unnest() of arrays, and Postgres has no arrays of arrays of a type."""
    for out in outputs:
        for c in out or ():
            if route.columns[c].array_type is None:
                raise DefinitionError(
                    f'motion trigger "{loaded.name}": backfill cannot write array column "{c}" of '
                    f"{route.info.relation}: each chunk is written back with one UPDATE from "
                    "arrays, and Postgres has no arrays of arrays",
                    hint=f'store "{c}" as jsonb, or re-infer these rows row by row with '
                    f"UPDATE {route.info.relation} SET <an input column> = <itself> WHERE … "
                    "(that enqueues fit events for them)",
                )


def inline(plpy: Any, trigger: str, stale: bool, condition: str | None) -> str:
    """Backfill from a motion statement (CREATE … WITH (backfill = true), ALTER … BACKFILL), in
    its transaction when at most :data:`INLINE_ROWS` rows are to be visited; otherwise leave the
    run for ``motion-pg backfill`` / ``CALL motion.backfill``. Returns a status text."""
    loaded = _loaded(plpy, trigger)
    if not any(r.method is not None for r in loaded.routes.values()):
        return "nothing to infer: no infer route"
    run = start(plpy, trigger, stale, condition)
    if run["total"] - run["visited"] > INLINE_ROWS:
        plpy.notice(
            f'motion trigger "{trigger}": backfill run {run["id"]} has {run["total"]} rows to '
            f"visit; more than {INLINE_ROWS} are not inferred inside this statement (its "
            "transaction would lock them all until commit): a worker (motion-pg worker) infers "
            f"them in the background, or `motion-pg backfill {trigger}` does with a progress bar",
        )
        backend.database(plpy).query(query("backfill_hand_to_worker"), [run["id"]])
        return (f"run {run['id']}: {run['total']} rows left to the worker or "
                f"`motion-pg backfill {trigger}`")  # fmt: skip
    while run["state"] == "running":
        try:
            run = step(plpy, run["id"])
        except plpy.Error as e:
            raise InferError(str(e).strip()) from None
    return f"run {run['id']}: {run['inferred']} rows inferred"
