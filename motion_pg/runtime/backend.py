"""Entry points the PL/Python shims call, inside the database server.

The infer path: a BEFORE STATEMENT trigger (:func:`infer_statement`) checks once per statement which
state version serves and reloads what changed; BEFORE ROW triggers (:func:`infer_row`) then call the
user's method with no catalog lookups and no SQL (an output value only its type's input function can
check costs one subtransaction: :mod:`motion_pg.runtime.outputs`). Everything loaded is cached per
backend, keyed by the trigger's revision (a change of definition) and serving version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from motion_pg.errors import InferError, MotionError, MotionSyntaxError
from motion_pg.queries import query
from motion_pg.runtime import loader, outputs
from motion_pg.runtime.plpy_db import PlpyDatabase, user_database
from motion_pg.runtime.routes import BatchMethod, InferMethod, LoadedTrigger, Route, one_row
from motion_pg.runtime.state import BlobCache
from motion_pg.runtime.values import Column
from motion_pg.settings import Settings
from motion_pg.trigger import Context, RouteInfo

_blobs = BlobCache()
_loaded: dict[str, LoadedTrigger] = {}
# relids (TD["relid"]) whose batch write-back UPDATE is running: it must not re-fire infer
writing_back: set[str] = set()
_db: PlpyDatabase | None = None


def database(plpy: Any) -> PlpyDatabase:
    """This backend's :class:`PlpyDatabase` (plans are cached for the session)."""
    global _db
    if _db is None:
        _db = PlpyDatabase(plpy)
    return _db


def refresh(plpy: Any, name: str) -> LoadedTrigger:
    """Bring the cached trigger ``name`` up to its serving version; one query when nothing changed."""
    db = database(plpy)
    rows = db.query(query("trigger_serving"), [name])
    if not rows:
        plpy.error(
            f'motion trigger "{name}" does not exist but a Postgres trigger still calls it',
            hint="drop the leftover trigger, or recreate the motion trigger",
        )
    serving = rows[0]
    cached = _loaded.get(name)
    if cached is not None and cached.revision == serving["revision"]:
        cached.enabled = serving["enabled"]
        if cached.version != (serving["serving_version"] or 0):
            cached = _set_state(db, cached, serving["serving_version"])
    else:
        cached = _load(plpy, db, name)
    # what motion.infer_statement compares with, so unchanged statements never enter Python
    token = (
        f"{serving['revision']}:{serving['serving_version'] or 0}:{str(serving['enabled']).lower()}"
    )
    setting = "motion.serving_" + hashlib.md5(name.encode()).hexdigest()
    db.query("SELECT pg_catalog.set_config($1, $2, false)", [setting, token])
    return cached


def _load(plpy: Any, db: PlpyDatabase, name: str) -> LoadedTrigger:
    row = db.query(query("trigger_definition"), [name])[0]
    try:
        cls = loader.load_class(row["class_ref"])
        instance = loader.instantiate(cls, row["class_ref"])
    except MotionError as e:
        _definition_failed(plpy, name, e)
    import json

    params = MappingProxyType(json.loads(row["params"]))
    loaded = LoadedTrigger(
        name=name,
        revision=row["revision"],
        version=-1,
        enabled=row["enabled"],
        class_ref=row["class_ref"],
        instance=instance,
        params=params,
        settings=Settings.from_json(row["settings"]),
        state=MappingProxyType({}),
    )
    user_db = user_database(db, row["search_path"])
    for r in db.query(query("trigger_routes"), [name]):
        info = RouteInfo(
            ordinal=r["ordinal"],
            relation=r["relation"],
            columns=tuple(r["columns"]) if r["columns"] is not None else None,
            infer=r["infer_method"],
            fit=r["fit_method"],
        )
        method: InferMethod | None = None
        batch: BatchMethod | None = None
        if info.infer is not None:
            found = getattr(instance, "infer_batch", None) if info.infer == "infer" else None
            batch = found if callable(found) else None
            try:
                if batch is not None and not callable(getattr(instance, "infer", None)):
                    method = one_row(batch)
                else:
                    method = loader.method(instance, info.infer, row["class_ref"])
            except MotionError as e:
                _definition_failed(plpy, name, e)
        columns = [Column.from_row(c) for c in db.query(query("relation_columns"), [r["relid"]])]
        ctx = Context(
            trigger=name, version=-1, state=loaded.state, params=params, db=user_db, route=info
        )
        loaded.routes[info.ordinal] = Route.build(
            info, method, columns, list(r["key_columns"]), ctx, batch
        )
    _loaded[name] = loaded
    return _set_state(db, loaded, row["serving_version"])


def _definition_failed(plpy: Any, name: str, e: MotionError) -> None:
    extra = {"hint": e.hint} if e.hint else {}
    plpy.error(f'motion trigger "{name}": {e.message}', sqlstate=e.sqlstate, **extra)


def _set_state(db: PlpyDatabase, loaded: LoadedTrigger, version: int | None) -> LoadedTrigger:
    # let go of the old state first, so a backend never holds two large versions at once; a failed
    # load leaves version -1 and the next statement loads again
    loaded.version, loaded.state = -1, MappingProxyType({})
    for route in loaded.routes.values():
        route.ctx = replace(route.ctx, state=loaded.state)
    if version is None:
        state: Mapping[str, Any] = MappingProxyType({})
    else:
        state = _load_state(db, loaded.name, version)
    loaded.version = version if version is not None else 0
    loaded.state = state
    for route in loaded.routes.values():
        route.ctx = replace(route.ctx, version=loaded.version, state=state)
    return loaded


def _load_state(db: PlpyDatabase, name: str, version: int) -> Mapping[str, Any]:
    plpy = db.plpy
    try:
        return _blobs.load(db, name, version)
    except Exception as e:
        if outputs.must_propagate(plpy, e):
            raise
        plpy.error(
            f'motion trigger "{name}" cannot load its state version {version}: '
            f"{outputs.describe(e)}",
            sqlstate=InferError.sqlstate,
            detail=outputs.user_traceback(e),
            hint=f"serve a version that loads: ALTER MOTION TRIGGER {name} ROLLBACK TO VERSION n",
        )
        raise  # plpy.error raised already


def infer_statement(plpy: Any, td: Mapping[str, Any]) -> None:
    """BEFORE STATEMENT (schema 0.1's shim; 0.2 checks in plpgsql and calls :func:`refresh`)."""
    if td["relid"] in writing_back:
        return
    refresh(plpy, td["args"][0])


def infer_row(plpy: Any, td: Mapping[str, Any]) -> str | None:
    """BEFORE ROW: run the route's infer on the new row and write the outputs into it."""
    if writing_back and td["relid"] in writing_back:  # a batch infer's own write-back
        return None
    args = td["args"]
    # refresh when a statement trigger did not run first (e.g. it was disabled alone)
    loaded = _loaded.get(args[0]) or refresh(plpy, args[0])
    if not loaded.enabled:
        return None
    route = loaded.routes[int(args[1])]
    try:
        return outputs.infer_one(plpy, loaded, route, td["new"])
    except plpy.Error as e:  # our report: CONTEXT shows this frame, not motion's internals
        raise e.with_traceback(None) from None


def warm(plpy: Any, name: str) -> int:
    """``motion.warm(name)``: load trigger ``name`` (class, routes, state) into this backend before
    its first write, e.g. from a connection pool's connect hook; returns the serving version."""
    return refresh(plpy, name).version


def exec_statements(plpy: Any, text: str) -> str:
    """``motion.exec``: run the motion statements (and any plain SQL) in ``text``."""
    from motion_pg.compiler import Compiler
    from motion_pg.dsl import parse, split_statements

    compiler = Compiler(database(plpy), plpy)
    results: list[str] = []
    try:
        for chunk in split_statements(text):
            if not chunk.is_motion:
                plpy.execute(chunk.text)
                continue
            try:
                statements = parse(chunk.text)
            except MotionSyntaxError as e:
                raise e.shifted(chunk.line - 1, chunk.col - 1) from None
            for statement in statements:
                results.append(compiler.run(statement))
    except MotionError as e:
        plpy.error(e.message, hint=e.hint)
    finally:
        _loaded.clear()  # definitions may have changed in this transaction
    return "\n".join(results)
