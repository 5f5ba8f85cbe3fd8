"""Entry points the PL/Python shims call, inside the database server.

The infer path: a BEFORE STATEMENT trigger (:func:`infer_statement`) checks once per statement which
state version serves and reloads what changed; BEFORE ROW triggers (:func:`infer_row`) then call the
user's method with no catalog lookups and no SQL. Everything loaded is cached per backend, keyed by
the trigger's revision (a change of definition) and serving version.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from motion_pg.errors import MotionError, MotionSyntaxError
from motion_pg.queries import query
from motion_pg.runtime import loader
from motion_pg.runtime.plpy_db import PlpyDatabase
from motion_pg.runtime.state import BlobCache
from motion_pg.runtime.values import Converter, ValueMismatch, converter
from motion_pg.trigger import Context, RouteInfo, Trigger


@dataclass
class _Route:
    info: RouteInfo
    method: Any  # the bound infer method, or None
    columns: dict[str, Converter]
    key_columns: list[str]
    ctx: Context


@dataclass
class _Loaded:
    name: str
    revision: int
    version: int
    enabled: bool
    class_ref: str
    instance: Trigger
    params: Mapping[str, Any]
    state: Mapping[str, Any]
    routes: dict[int, _Route] = field(default_factory=dict)


_blobs = BlobCache()
_loaded: dict[str, _Loaded] = {}
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
        if cached.version == serving["serving_version"]:
            return cached
        return _set_state(db, cached, serving["serving_version"])
    return _load(plpy, db, name)


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
        method = None
        if info.infer is not None:
            try:
                method = loader.method(instance, info.infer, row["class_ref"])
            except MotionError as e:
                plpy.error(f'motion trigger "{name}": {e.message}', hint=e.hint)
        columns = {
            c["name"]: converter(c["type_name"], c["typmod"])
            for c in db.query(query("relation_columns"), [r["relid"]])
        }
        ctx = Context(
            trigger=name, version=-1, state=loaded.state, params=params, db=db, route=info
        )
        loaded.routes[info.ordinal] = _Route(info, method, columns, list(r["key_columns"]), ctx)
    _loaded[name] = loaded
    return _set_state(db, loaded, row["serving_version"])


def _set_state(db: PlpyDatabase, loaded: _Loaded, version: int | None) -> _Loaded:
    if version is None:
        state: Mapping[str, Any] = MappingProxyType({})
    else:
        state = _blobs.load(db, loaded.name, version)
    loaded.version = version if version is not None else 0
    loaded.state = state
    for route in loaded.routes.values():
        route.ctx = replace(route.ctx, version=loaded.version, state=state)
    return loaded


def infer_statement(plpy: Any, td: Mapping[str, Any]) -> None:
    """BEFORE STATEMENT: pin the serving version for the rows of this statement."""
    refresh(plpy, td["args"][0])


def infer_row(plpy: Any, td: Mapping[str, Any]) -> str | None:
    """BEFORE ROW: run the route's infer on the new row and write the outputs into it."""
    name, ordinal = td["args"][0], int(td["args"][1])
    loaded = _loaded.get(name)
    if loaded is None:  # a statement trigger did not run first (e.g. it was disabled alone)
        loaded = refresh(plpy, name)
    if not loaded.enabled:
        return None
    route = loaded.routes[ordinal]
    new = td["new"]
    try:
        out = route.method(dict(new), route.ctx)
    except Exception as e:
        return _infer_failed(plpy, loaded, route, new, f"{type(e).__name__}: {e}", e)
    if not out:
        return None
    if not isinstance(out, Mapping):
        return _infer_failed(
            plpy, loaded, route, new,
            f"infer must return a dict of column values or None, got {type(out).__name__}", None,
        )  # fmt: skip
    for column, value in out.items():
        convert = route.columns.get(column)
        if convert is None:
            return _infer_failed(
                plpy, loaded, route, new,
                f"infer returned column {column!r}, which {route.info.relation} does not have "
                f"(columns: {', '.join(route.columns)})", None,
            )  # fmt: skip
        try:
            new[column] = None if value is None else convert(value)
        except ValueMismatch as e:
            return _infer_failed(
                plpy, loaded, route, new,
                f"column {column!r} expects {e}; infer returned {type(value).__name__} "
                f"{_short(value)}", None,
            )  # fmt: skip
    return "MODIFY"


def _infer_failed(
    plpy: Any,
    loaded: _Loaded,
    route: _Route,
    new: Mapping[str, Any],
    what: str,
    exc: BaseException | None,
) -> str | None:
    key = {c: new.get(c) for c in route.key_columns}
    key_text = (
        "(" + ", ".join(key) + ")=(" + ", ".join(_short(v) for v in key.values()) + ")"
        if key
        else "(no primary key)"
    )
    message = (
        f'motion trigger "{loaded.name}" infer failed on {route.info.relation} row {key_text}: '
        f"{what}"
    )
    detail = "".join(traceback.format_exception(exc)) if exc is not None else None
    if loaded.params.get("on_error") == "skip":
        import json

        database(plpy).query(
            query("record_infer_error"),
            [loaded.name, route.info.relation, json.dumps(key, default=str), message],
        )
        plpy.warning(message)
        return None
    plpy.error(message, detail=detail, hint=None if exc is not None else _output_hint())
    return None


def _output_hint() -> str:
    return "infer returns {column: value} for columns of the relation, or None to leave the row"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def warm(plpy: Any, name: str) -> int:
    """Load trigger ``name`` (class, routes, state) into this backend; returns the serving version."""
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
