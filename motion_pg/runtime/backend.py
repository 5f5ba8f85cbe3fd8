"""Entry points the PL/Python shims call, inside the database server.

The infer path: a BEFORE STATEMENT trigger (:func:`infer_statement`) checks once per statement which
state version serves and reloads what changed; BEFORE ROW triggers (:func:`infer_row`) then call the
user's method with no catalog lookups and no SQL. Everything loaded is cached per backend, keyed by
the trigger's revision (a change of definition) and serving version.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from motion_pg.errors import MotionError
from motion_pg.queries import query
from motion_pg.runtime import loader
from motion_pg.runtime.plpy_db import PlpyDatabase
from motion_pg.runtime.state import BlobCache
from motion_pg.runtime.values import Converter, ValueMismatch, converter
from motion_pg.settings import Settings
from motion_pg.trigger import Context, RouteInfo, Trigger


@dataclass
class _Route:
    info: RouteInfo
    method: Any  # the bound infer method (or infer_batch on one row), or None
    columns: dict[str, Converter]
    key_columns: list[str]
    ctx: Context
    types: dict[str, str] = field(default_factory=dict)  # column -> pg_type.typname
    batch: Any = None  # the bound infer_batch method, when the class defines one
    exact: dict[str, type] = field(default_factory=dict)  # values of this type need no converting


# column types whose values of exactly this Python type pass unconverted (the hot path)
_EXACT = {"int2": int, "int4": int, "int8": int, "float4": float, "float8": float, "bool": bool}


@dataclass
class _Loaded:
    name: str
    revision: int
    version: int
    enabled: bool
    class_ref: str
    instance: Trigger
    params: Mapping[str, Any]
    settings: Settings
    state: Mapping[str, Any]
    routes: dict[int, _Route] = field(default_factory=dict)


_blobs = BlobCache()
_loaded: dict[str, _Loaded] = {}
# relids (TD["relid"]) whose batch write-back UPDATE is running: it must not re-fire infer
writing_back: set[str] = set()
_db: PlpyDatabase | None = None


def database(plpy: Any) -> PlpyDatabase:
    """This backend's :class:`PlpyDatabase` (plans are cached for the session)."""
    global _db
    if _db is None:
        _db = PlpyDatabase(plpy)
    return _db


def refresh(plpy: Any, name: str) -> _Loaded:
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


def _load(plpy: Any, db: PlpyDatabase, name: str) -> _Loaded:
    row = db.query(query("trigger_definition"), [name])[0]
    try:
        cls = loader.load_class(row["class_ref"])
        instance = loader.instantiate(cls, row["class_ref"])
    except MotionError as e:
        plpy.error(f'motion trigger "{name}": {e.message}', hint=e.hint)
    import json

    params = MappingProxyType(json.loads(row["params"]))
    loaded = _Loaded(
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
    for r in db.query(query("trigger_routes"), [name]):
        info = RouteInfo(
            ordinal=r["ordinal"],
            relation=r["relation"],
            columns=tuple(r["columns"]) if r["columns"] is not None else None,
            infer=r["infer_method"],
            fit=r["fit_method"],
        )
        method = batch = None
        if info.infer is not None:
            batch = getattr(instance, "infer_batch", None) if info.infer == "infer" else None
            batch = batch if callable(batch) else None
            try:
                if batch is not None and not callable(getattr(instance, "infer", None)):
                    from motion_pg.runtime.batch import one_row

                    method = one_row(batch)
                else:
                    method = loader.method(instance, info.infer, row["class_ref"])
            except MotionError as e:
                plpy.error(f'motion trigger "{name}": {e.message}', hint=e.hint)
        described = db.query(query("relation_columns"), [r["relid"]])
        columns = {c["name"]: converter(c["type_name"], c["typmod"]) for c in described}
        ctx = Context(
            trigger=name, version=-1, state=loaded.state, params=params, db=db, route=info
        )
        loaded.routes[info.ordinal] = _Route(
            info, method, columns, list(r["key_columns"]), ctx,
            types={c["name"]: c["type_name"] for c in described}, batch=batch,
            exact={c["name"]: _EXACT[c["type_name"]] for c in described
                   if c["type_name"] in _EXACT},
        )  # fmt: skip
    _loaded[name] = loaded
    return _set_state(db, loaded, row["serving_version"])


def _set_state(db: PlpyDatabase, loaded: _Loaded, version: int | None) -> _Loaded:
    # let go of the old state first, so a backend never holds two large versions at once; a failed
    # load leaves version -1 and the next statement loads again
    loaded.version, loaded.state = -1, MappingProxyType({})
    for route in loaded.routes.values():
        route.ctx = replace(route.ctx, state=loaded.state)
    if version is None:
        state: Mapping[str, Any] = MappingProxyType({})
    else:
        state = _blobs.load(db, loaded.name, version)
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
    return loaded


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
    new = td["new"]
    try:
        out = route.method(dict(new), route.ctx)
    except Exception as e:
        return infer_failed(plpy, loaded, route, new, f"{type(e).__name__}: {e}", e)
    if not out:
        return None
    problem = convert_into(route, out, new)
    if problem is not None:
        return infer_failed(plpy, loaded, route, new, problem, None)
    return "MODIFY"


def convert_into(route: _Route, out: Any, target: dict[str, Any]) -> str | None:
    """Check ``out`` (what infer returned) and write its converted values into ``target``.

    Returns what is wrong with ``out``, or None when every value was written.
    """
    if type(out) is not dict and not isinstance(out, Mapping):
        return f"infer must return a dict of column values or None, got {type(out).__name__}"
    columns, exact = route.columns, route.exact
    for column, value in out.items():
        if type(value) is exact.get(column):
            target[column] = value
            continue
        convert = columns.get(column)
        if convert is None:
            return (
                f"infer returned column {column!r}, which {route.info.relation} does not have "
                f"(columns: {', '.join(columns)})"
            )
        try:
            target[column] = None if value is None else convert(value)
        except ValueMismatch as e:
            return (
                f"column {column!r} expects {e}; infer returned {type(value).__name__} "
                f"{_short(value)}"
            )
    return None


def infer_failed(
    plpy: Any,
    loaded: _Loaded,
    route: _Route,
    new: Mapping[str, Any],
    what: str,
    exc: BaseException | None,
) -> str | None:
    """Fail the statement naming trigger, relation, row key and error; under on_error = 'skip'
    record the error and return None (the row is stored without outputs)."""
    key = {c: new.get(c) for c in route.key_columns}
    message = (
        f'motion trigger "{loaded.name}" infer failed on {route.info.relation} row '
        f"{key_text(key)}: {what}"
    )
    detail = "".join(traceback.format_exception(exc)) if exc is not None else None
    if loaded.settings.on_error == "skip":
        import json

        database(plpy).query(
            query("record_infer_error"),
            [loaded.name, route.info.relation, json.dumps(key, default=str), message],
        )
        plpy.warning(message)
        return None
    plpy.error(message, detail=detail, hint=None if exc is not None else _output_hint())
    return None


def key_text(key: Mapping[str, Any]) -> str:
    """``(id)=(7)``: a row key the way Postgres' own errors show it."""
    if not key:
        return "(no primary key)"
    return "(" + ", ".join(key) + ")=(" + ", ".join(_short(v) for v in key.values()) + ")"


def _output_hint() -> str:
    return "infer returns {column: value} for columns of the relation, or None to leave the row"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def warm(plpy: Any, name: str) -> int:
    """``motion.warm(name)``: load trigger ``name`` (class, routes, state) into this backend before
    its first write, e.g. from a connection pool's connect hook; returns the serving version."""
    return refresh(plpy, name).version


def exec_statements(plpy: Any, text: str, caller_path: list[str] | None = None) -> dict[str, Any]:
    """``motion._exec``: run the motion statements (and any plain SQL) in ``text``; returns the
    function's OUT row (the status lines, or the failure for ``motion.exec`` to raise)."""
    from motion_pg.compiler import run_text

    try:
        return run_text(plpy, database(plpy), text, caller_path or [])
    finally:
        _loaded.clear()  # definitions may have changed in this transaction
