"""Entry points the PL/Python shims call, inside the database server.

The infer path: a BEFORE STATEMENT trigger (plpgsql ``motion.infer_statement``) reads the trigger's
serving token once per statement and calls :func:`check_serving`, which reloads only when it differs
from the token this backend loaded; BEFORE ROW triggers (:func:`infer_row`) then call the user's
method with no catalog lookups and no SQL (an output value only its type's input function can check
costs one subtransaction: :mod:`motion_pg.runtime.outputs`). Everything loaded is cached per
backend, keyed by the trigger's revision (a change of definition) and serving version.

What steers this path lives in this module's memory, never in anything a client can set (session
settings, temp tables): the loaded token, the routes with the relation and Postgres trigger names
the catalog made them for (:func:`route_for` refuses any other caller), and :data:`writing_back`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from motion_pg.errors import InferError, MotionError, UnknownTrigger
from motion_pg.queries import query
from motion_pg.runtime import (
    experiments,
    identity,
    latency,
    loader,
    outputs,
    shared_state,
    stamping,
    violations,
)
from motion_pg.runtime.keyed import KeyCache
from motion_pg.runtime.plpy_db import PlpyDatabase, user_database
from motion_pg.runtime.routes import BatchMethod, InferMethod, LoadedTrigger, Route, one_row
from motion_pg.runtime.state import BlobCache
from motion_pg.runtime.values import Column
from motion_pg.settings import Settings
from motion_pg.trigger import Context, RouteInfo

_blobs = BlobCache(shared_state.BackendSource())  # large values: the host's shared cache
_loaded: dict[str, LoadedTrigger] = {}
# relids (TD["relid"]) whose batch write-back UPDATE is running in this backend: it must neither
# re-fire infer nor enqueue fit events (motion._writing_back reads it for the enqueue triggers)
writing_back: set[str] = set()
# triggers whose routes skip the statement in hand: the worker's async write-back of another
# trigger's outputs that they are not chained on (motion._async_skip; motion.infer_statement)
async_skipped: set[str] = set()
_db: PlpyDatabase | None = None
_sampling = latency.sampling


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
    # what check_serving compares with, so an unchanged statement runs no query
    cached.token = (
        f"{serving['revision']}:{serving['serving_version'] or 0}:{str(serving['enabled']).lower()}"
    )
    return cached


def check_serving(
    plpy: Any, name: str, token: str | None, ordinal: str | None, relid: int, pg_trigger: str,
    xact: int, at: bytes, role: int,
) -> bool:  # fmt: skip
    """``motion._check_serving``, once per statement: reload trigger ``name`` when the catalog's
    serving ``token`` (read by ``motion.infer_statement``) differs from the one this backend loaded,
    and refuse a calling Postgres trigger the loaded routes do not name; no SQL otherwise. Builds
    the statement's lineage stamp from its transaction ``xact``, time ``at`` (``timestamptz_send``
    of the statement's timestamp: :func:`stamping.send_micros`) and login ``role``. Returns True
    (the SQL function returns boolean so that PL/pgSQL calls it as a simple expression)."""
    if writing_back and str(relid) in writing_back:  # motion's own write-back (batch, backfill)
        return True
    if async_skipped:
        async_skipped.discard(name)  # a new statement: infer_statement did not skip it
    loaded = _loaded.get(name)
    if loaded is None or loaded.token != token:
        loaded = refresh(plpy, name)
    known = loaded.by_pg_trigger.get(pg_trigger)  # the Postgres triggers motion made, and args
    route = known[0] if known is not None and known[1][1] == ordinal else None
    if route is None or str(relid) != route.relid:
        _not_routed(plpy, loaded.name, pg_trigger, int(relid), "motion.infer_statement")
        raise AssertionError("plpy.error returned")  # pragma: no cover
    stamping.tokens.clear()
    stamping.set_stamp(loaded, route, xact, stamping.send_micros(at), role)
    latency.statement(plpy, name)  # counts the statement; samples one in latency.EVERY
    return True


def route_for(plpy: Any, loaded: LoadedTrigger, td: Mapping[str, Any]) -> Route:
    """The route a PL/Python trigger call ``td`` runs, after checking that the catalog made the
    calling Postgres trigger for exactly this relation (or a partition of it) and route."""
    known = loaded.by_pg_trigger.get(td["name"])
    if known is not None and td["relid"] == known[0].relid and td["args"] == known[1]:
        return known[0]  # the hot path: trigger names are unique per relation
    args: list[str] = list(td["args"] or ())
    ordinal = args[1] if len(args) > 1 else None
    route = loaded.routes.get(int(ordinal)) if ordinal is not None and ordinal.isdigit() else None
    relid = td["relid"]
    if route is not None and td["name"] in route.pg_triggers:
        if relid == route.relid or relid in route.partitions:
            return route
        found = database(plpy).query(query("is_partition_of"), [relid, route.relid])
        if found and found[0]["ok"]:
            route.partitions.add(relid)
            return route
    function = "motion.infer_batch" if td["when"] == "AFTER" else "motion.infer_row"
    _not_routed(plpy, loaded.name, td["name"], int(relid), function)
    raise AssertionError("plpy.error returned")  # pragma: no cover


def _not_routed(plpy: Any, name: str, pg_trigger: str, relid: int, function: str) -> None:
    found = database(plpy).query(query("relation_name"), [relid])
    relation = found[0]["relation"] if found else f"with oid {relid}"
    plpy.error(
        f'trigger "{pg_trigger}" on relation {relation} calls {function} for motion trigger '
        f'"{name}", but motion did not create it for that relation',
        sqlstate="42501",
        hint="drop that trigger: motion's triggers are made by CREATE MOTION TRIGGER",
    )


def _load(plpy: Any, db: PlpyDatabase, name: str) -> LoadedTrigger:
    row = db.query(query("trigger_definition"), [name])[0]
    deployed = db.query(query("trigger_code"), [name])[0]["code_digest"]
    deploy_id = int(db.query(query("deploy_in_force"), [name])[0]["id"])
    try:
        # after a deploy this backend re-imports the code, and never runs code that is not it
        identity.ensure(name, row["class_ref"], deployed)
        cls = loader.load_class(row["class_ref"])
        instance = loader.instantiate(cls, row["class_ref"])
    except MotionError as e:
        _definition_failed(plpy, name, e)
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
        deploy_id=deploy_id,
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
        route = loaded.routes[info.ordinal] = Route.build(
            info, method, columns, list(r["key_columns"]), ctx, batch,
            relid=str(r["relid"]), pg_triggers=frozenset(r["pg_triggers"]),
        )  # fmt: skip
        _lineage(db, name, route)
        for pg_trigger in route.pg_triggers:
            loaded.by_pg_trigger[pg_trigger] = (route, [name, str(info.ordinal)])
    loaded.experiment = experiments.load(db, name)
    per = db.query(query("trigger_state_per"), [name])
    if per and per[0]["state_per"] is not None:  # STATE PER: each row infers with its key's state
        loaded.keyed = KeyCache(db, name, per[0]["state_per"], loaded.settings.key_cache)
    _loaded[name] = loaded
    return _set_state(db, loaded, row["serving_version"])


def _lineage(db: PlpyDatabase, name: str, route: Route) -> None:
    found = db.query(query("route_lineage"), [name, route.info.ordinal])
    if not found:
        return
    row = found[0]
    route.hidden = tuple(row["hidden"] or ())
    route.hide = route.hidden[0] if len(route.hidden) == 1 else None
    if route.info.infer is not None:
        route.lineage_column = row["lineage_column"]
    raw = row["attnums"]
    attnums = json.loads(raw) if isinstance(raw, str) else (raw or {})
    route.attnums = {str(k): int(v) for k, v in attnums.items()}


def _definition_failed(plpy: Any, name: str, e: MotionError) -> None:
    extra = {"hint": e.hint} if e.hint else {}
    prefix = f'motion trigger "{name}": '
    message = e.message if e.message.startswith(prefix) else prefix + e.message
    plpy.error(message, sqlstate=e.sqlstate, **extra)


def _set_state(db: PlpyDatabase, loaded: LoadedTrigger, version: int | None) -> LoadedTrigger:
    # let go of the old state first, so a backend never holds two large versions at once; a failed
    # load leaves version -1 and the next statement loads again
    previous = loaded.version
    loaded.version, loaded.state = -1, MappingProxyType({})
    for route in loaded.routes.values():
        route.ctx = replace(route.ctx, state=loaded.state)
    if version is None:
        state: Mapping[str, Any] = MappingProxyType({})
    else:
        state = _load_state(db, loaded.name, version)
        # infer uses the params and settings recorded for the version it serves, never newer
        # ones read with the definition (an ALTER SET is itself a version)
        recorded = db.query(query("version_config"), [loaded.name, version])
        if recorded:
            raw = recorded[0]["params"]
            loaded.params = MappingProxyType(json.loads(raw) if isinstance(raw, str) else raw)
            loaded.settings = Settings.from_json(recorded[0]["settings"])
    loaded.version = version if version is not None else 0
    loaded.state = state
    for route in loaded.routes.values():
        route.ctx = replace(route.ctx, version=loaded.version, state=state, params=loaded.params)
    if loaded.keyed is not None:  # forget the keys the versions in between changed
        loaded.keyed.capacity = loaded.settings.key_cache
        loaded.keyed.moved(previous, loaded.version)
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


def infer_row(plpy: Any, td: dict[str, Any]) -> str | None:
    """BEFORE ROW: run the route's infer on the new row and write the outputs into it."""
    if writing_back and td["relid"] in writing_back:  # a batch infer's own write-back
        return None
    name = td["args"][0] if td["args"] else ""
    if async_skipped and name in async_skipped:  # an async write-back it is not chained on
        return None
    # refresh when a statement trigger did not run first (e.g. it was disabled alone)
    loaded = _loaded.get(name) or refresh(plpy, name)
    known = loaded.by_pg_trigger.get(td["name"])
    if known is not None and td["relid"] == known[0].relid and td["args"] == known[1]:
        route = known[0]  # the hot path of route_for: a row of the routed relation itself
    else:
        route = route_for(plpy, loaded, td)
        if loaded.enabled and route.lineage_column is not None and td["relid"] != route.relid:
            # a partition's row: the parent's statement trigger may not have run for this statement
            stamping.fresh_stamp(plpy, loaded, route)
    if not loaded.enabled:
        return None
    inserting = td["event"] == "INSERT"
    infer = outputs.infer_one if loaded.experiment is None else experiments.infer_one
    # expectations check the row as stored: infer may hand back only the columns it changed
    stored = dict(td["new"]) if loaded.settings.expect is not None else None
    try:
        if name in _sampling:  # this statement's infer latency is sampled (runtime.latency)
            done = latency.timed(name, infer, plpy, loaded, route, td, inserting=inserting)
        else:
            done = infer(plpy, loaded, route, td, inserting=inserting)
        if stored is not None:  # the row as stored, outputs included
            if done == "MODIFY":
                stored.update(td["new"])
            violations.check_rows(plpy, loaded, route, [stored])
    except plpy.Error as e:  # our report: CONTEXT shows this frame, not motion's internals
        raise e.with_traceback(None) from None
    if not inserting and done is not None:
        column = route.stamp_column
        if column is not None:
            stamping.tokens[(name, column)] = td["new"][column]
    return done


def warm(plpy: Any, name: str) -> int:
    """``motion.warm(name)``: load trigger ``name`` (class, routes, state) into this backend before
    its first write, e.g. from a connection pool's connect hook; returns the serving version.

    Answers only when the session's login role may INSERT into or UPDATE one of the trigger's
    relations; any other trigger looks absent, so warm reveals nothing a role could not see by
    writing."""
    found = database(plpy).query(query("trigger_writable"), [name])
    if not found or not found[0]["ok"]:
        plpy.error(
            f'motion trigger "{name}" does not exist, or your login role may not write to any of '
            "its relations",
            sqlstate=UnknownTrigger.sqlstate,
            hint="check the name; motion.warm loads triggers of relations your role writes to",
        )
    return refresh(plpy, name).version


def forget_loaded() -> None:
    """Forget every loaded trigger: motion statements may have changed definitions."""
    _loaded.clear()
