"""``ALTER MOTION TRIGGER … SET (infer_mode = …)``: remake the routes' Postgres triggers for the
new mode, as CREATE OR REPLACE would make them.

Only the infer/fit triggers of each route are made again (its lineage triggers stay), in the
route's chain place (depth and upstream columns are kept), enabled as the trigger is. The same
refusals as CREATE apply: batch mode needs ``infer_batch`` and a primary key
(``infer_mode = 'batch'`` says why it cannot), async needs a primary key, an experiment or a
STATE PER trigger infers row by row, and a chain may not run through a batch-mode infer.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from motion_pg.async_triggers import async_notice
from motion_pg.compiler import chains, keyed
from motion_pg.compiler.session import Session
from motion_pg.errors import DefinitionError
from motion_pg.queries import query
from motion_pg.runtime.plpy_db import PlpyDatabase
from motion_pg.triggers_ddl import (
    LINEAGE_KINDS,
    ResolvedRoute,
    create_route_triggers,
    drop_route_triggers,
    infer_mode,
    set_route_triggers_enabled,
)


def current_mode(pg_triggers: list[str]) -> str:
    """``'async'``, ``'batch'`` or ``'row'``: the mode a route's Postgres triggers implement."""
    if any(n.endswith(("_async_ins", "_async_upd")) for n in pg_triggers):
        return "async"
    if any(n.endswith("_infer_batch") for n in pg_triggers):
        return "batch"
    return "row"


def route_of(r: dict[str, Any]) -> ResolvedRoute:
    """The :class:`ResolvedRoute` of a ``chain_routes`` row."""
    return ResolvedRoute(
        ordinal=r["ordinal"], relid=int(r["relid"]), relation=r["relation"], schema=r["schema"],
        table=r["name"], columns=list(r["columns"]) if r["columns"] is not None else None,
        infer=r["infer_method"], fit=r["fit_method"], key_columns=list(r["key_columns"]),
    )  # fmt: skip


def remake(db: PlpyDatabase, r: dict[str, Any], mode: str, depth: int,
           upstream: list[str] | None) -> None:  # fmt: skip
    """Drop and make again the infer/fit triggers of route ``r`` (a ``chain_routes`` row) for
    ``mode`` at chain ``depth``; its lineage triggers stay."""
    table = sql.Identifier(r["schema"], r["name"])
    names: list[str] = list(r["pg_triggers"])
    kept = [n for n in names if any(n.endswith("_" + k) for k in LINEAGE_KINDS)]
    drop_route_triggers(db, [(table, n) for n in names if n not in kept])
    made = create_route_triggers(db, r["trigger_name"], route_of(r), batch=mode == "batch",
                                 deferred=mode == "async", depth=depth,
                                 upstream=upstream)  # fmt: skip
    db.query(query("set_route_chain"),
             [r["trigger_name"], r["ordinal"], depth, upstream, made + kept])  # fmt: skip
    db.query(query("bump_revision"), [r["trigger_name"]])
    set_route_triggers_enabled(db, [(table, n) for n in made], enabled=r["enabled"],
                               always=r["fire_on_replica"])  # fmt: skip


def apply(session: Session, name: str) -> None:
    """Remake ``name``'s routes whose mode differs from what its (just updated) settings ask."""
    db = session.db
    relids = sorted(chains.relids_of(db, name))
    rows = [r for r in db.query(query("chain_routes"), [relids]) if r["trigger_name"] == name]
    row_only = None
    if db.query(query("experiment_of"), [name]):
        row_only = "it runs an experiment (SHADOW OF / CANARY OF), which infers row by row"
    elif keyed.state_per(db, name) is not None:
        row_only = "it keeps its state PER key, which infers row by row"
    for r in rows:
        if r["infer_method"] is None:
            continue
        mode = infer_mode(db, name, route_of(r))
        if mode == "batch" and row_only is not None:
            if _wanted(db, name) == "batch":
                raise DefinitionError(
                    f"motion trigger \"{name}\": infer_mode = 'batch': {row_only}",
                    hint="keep infer_mode = 'auto' or 'row'",
                )
            mode = "row"
        if mode == current_mode(list(r["pg_triggers"])):
            continue
        if mode == "async":
            session.notice(async_notice(name, r["relation"]))
        remake(db, r, mode, int(r["chain_depth"] or 0), r["chain_columns"])
    chains.rechain(db, relids)  # refuses a chain through a batch-mode infer, as CREATE does


def _wanted(db: PlpyDatabase, name: str) -> str:
    from motion_pg.settings import Settings

    row = db.query(query("trigger_definition"), [name])[0]
    return Settings.from_json(row["settings"]).infer_mode
