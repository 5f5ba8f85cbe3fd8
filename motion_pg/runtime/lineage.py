"""``motion.lineage(relation, key)``: where a row's inferred values came from.

For every motion trigger that infers into the relation, the row's stamp
(:mod:`motion_pg.runtime.stamps`) names the route, state version, deploy, transaction, time and
login role of the statement whose infer wrote it; from the catalog come the params and settings of
that version, the changes the row underwent since by statements that did not re-infer it
(``motion.lineage_changes``), the version's chain back to setup and the events that built it
(``motion.version_events`` lists all of them). A row without a stamp says why it may have none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from psycopg import sql

from motion_pg.errors import MotionError, UnknownColumn
from motion_pg.queries import query
from motion_pg.runtime import stamps
from motion_pg.runtime.plpy_db import PlpyDatabase


def lineage_json(plpy: Any, relation: str, key: str, events: int | None) -> str:
    """The body of ``motion.lineage``: the lineage of one row as JSON text."""
    db = PlpyDatabase(plpy)
    try:
        return json.dumps(lineage(db, relation, json.loads(key), events or 0), default=str)
    except MotionError as e:
        extra = {"hint": e.hint} if e.hint else {}
        plpy.error(e.message, sqlstate=e.sqlstate, **extra)
        raise  # plpy.error raised already


def lineage(db: PlpyDatabase, relation: str, key: Any, events: int) -> dict[str, Any]:
    """The lineage of the row of ``relation`` whose primary key is ``key``."""
    rel = db.query(query("lineage_relation"), [relation])[0]
    routes = db.query(query("lineage_infer_routes"), [rel["relid"]])
    name = str(rel["relation"])
    if not routes:
        raise MotionError(
            f"no motion trigger infers into {name}",
            hint="SHOW MOTION TRIGGERS lists the motion triggers and their relations",
        )
    key_columns = list(routes[0]["key_columns"])
    row_key = _row_key(name, key, key_columns)
    columns = sorted({r["lineage_column"] for r in routes if r["lineage_column"]})
    row = _read_row(db, rel, name, row_key, columns)
    shown_key = {k: row["row"].get(k) for k in key_columns}
    by_trigger: dict[str, list[dict[str, Any]]] = {}
    for r in routes:
        by_trigger.setdefault(r["trigger_name"], []).append(r)
    return {
        "relation": name,
        "key": shown_key,
        "triggers": [
            _trigger_lineage(db, trigger, group, row, shown_key, events)
            for trigger, group in by_trigger.items()
        ],
    }


def _row_key(name: str, key: Any, key_columns: list[str]) -> dict[str, Any]:
    if not key_columns:
        raise UnknownColumn(
            f"{name} has no primary key: lineage finds rows by their primary key",
            hint="add a primary key to the relation",
        )
    if not isinstance(key, dict):
        if len(key_columns) != 1:
            raise MotionError(
                f"{name} has a primary key of {len(key_columns)} columns "
                f"({', '.join(key_columns)}): give the key as a JSON object",
                hint=f"""e.g. '{json.dumps({c: "..." for c in key_columns})}'""",
            )
        return {key_columns[0]: key}
    missing = [c for c in key_columns if c not in key]
    if missing:
        raise MotionError(
            f"the key of {name} is ({', '.join(key_columns)}); {json.dumps(key)} lacks "
            f"{', '.join(missing)}",
            hint="give every primary key column",
        )
    return {c: key[c] for c in key_columns}


def _read_row(
    db: PlpyDatabase, rel: Mapping[str, Any], name: str, key: dict[str, Any], columns: list[str]
) -> dict[str, Any]:
    table = sql.Identifier(rel["schema"], rel["name"])
    keys = [sql.Identifier(c) for c in key]
    statement = sql.SQL(
        "SELECT pg_catalog.to_jsonb(t.*) AS row{lineage} FROM {table} AS t "
        "WHERE ({tk}) = (SELECT {kk} FROM pg_catalog.jsonb_populate_record(NULL::{table}, "
        "$1::jsonb) AS k)"
    ).format(
        lineage=sql.SQL("").join(
            sql.SQL(", t.{} AS {}").format(sql.Identifier(c), sql.Identifier(f"lineage {i}"))
            for i, c in enumerate(columns)
        ),
        table=table,
        tk=sql.SQL(", ").join(sql.SQL("t.{}").format(k) for k in keys),
        kk=sql.SQL(", ").join(sql.SQL("k.{}").format(k) for k in keys),
    )
    found = db.query(statement.as_string(None), [json.dumps(key)])
    if not found:
        raise MotionError(
            f"{name} has no row with key {json.dumps(key)}",
            hint="give the row's primary key, e.g. '{\"id\": 42}' or 42",
        )
    raw = found[0]
    row = raw["row"]
    return {
        "row": json.loads(row) if isinstance(row, str) else row,
        "stamps": {c: raw[f"lineage {i}"] for i, c in enumerate(columns)},
    }


def _trigger_lineage(
    db: PlpyDatabase, trigger: str, routes: list[dict[str, Any]], row: Mapping[str, Any],
    key: dict[str, Any], events: int,
) -> dict[str, Any]:  # fmt: skip
    first = routes[0]
    column = first["lineage_column"]
    out: dict[str, Any] = {"trigger": trigger, "lineage_column": column}
    if column is None:
        out["why"] = (
            "no lineage column: the motion trigger was created WITH (lineage = false); "
            f"ALTER MOTION TRIGGER {trigger} SET (lineage = true) adds it"
        )
        return out
    raw = row["stamps"].get(column)
    if raw is None:
        return {**out, "stamped": False, **_why_unstamped(db, trigger, first, key)}
    stamp = stamps.decode(bytes(raw))
    raw_names = first["attnames"]
    names_json = json.loads(raw_names) if isinstance(raw_names, str) else (raw_names or {})
    names = {int(k): str(v) for k, v in names_json.items()}
    inferred = stamp.columns(names)
    out.update({
        "stamped": True,
        "route": stamp.ordinal,
        "infer": stamps.FLAG_NAMES.get(stamp.flags, f"flags {stamp.flags}"),
        "inferred_columns": inferred,
        "version": stamp.version,
        "at": stamp.at.isoformat(),
        "xact": stamp.xact,
        "login_role": _role(db, stamp.role),
    })  # fmt: skip
    if stamp.flags == stamps.SKIPPED:
        out["infer_errors"] = _infer_errors(db, trigger, key)
    out["deploy"] = _deploy(db, stamp.deploy)
    out["code_digest"] = out["deploy"]["digest"] if out["deploy"] else None
    version = db.query(query("lineage_version"), [trigger, stamp.version])
    if version:
        v = version[0]
        out["params"] = _json(v["params"])
        out["settings"] = _json(v["settings"])
        out["version_code_digest"] = v["code_digest"]
    else:
        out["params"] = out["settings"] = None
        out["version_pruned"] = True
    changes = _changes(db, first, column, key, bytes(raw), set(inferred))
    out["changed_since"] = changes
    out["inferred_columns_changed"] = sorted(
        {c for change in changes for c in change["inferred_columns"]}
    )
    out["chain"] = _chain(db, trigger, stamp.version)
    listed = db.query(query("lineage_events"), [trigger, stamp.version, max(events, 0)])
    out["events"] = {
        "count": out["chain"][0]["events"] if out["chain"] else 0,
        "shown": [{**e, "row_key": _json(e["row_key"])} for e in listed],
        "all": f"SELECT * FROM motion.version_events({_literal(trigger)}, {stamp.version})",
    }
    return out


def _why_unstamped(
    db: PlpyDatabase, trigger: str, route: Mapping[str, Any], key: dict[str, Any]
) -> dict[str, Any]:
    errors = _infer_errors(db, trigger, key)
    if errors:
        return {
            "why": "infer failed on this row and on_error = 'skip' stored it without outputs",
            "infer_errors": errors,
        }
    reasons = [
        "the row was written while the motion trigger was disabled",
        "the row was written before its lineage column was added (it predates lineage)",
        "the row was written while lineage = false",
        "infer failed on this row writing its outputs (see motion.infer_errors)",
    ]
    current = []
    if not route["enabled"]:
        current.append("the motion trigger is disabled now")
    if not route["lineage_on"]:
        current.append("lineage = false now")
    return {"why": "not inferred with lineage: " + "; or ".join(reasons), "now": current}


def _infer_errors(db: PlpyDatabase, trigger: str, key: dict[str, Any]) -> list[dict[str, Any]]:
    rows = db.query(query("lineage_infer_errors"), [trigger, json.dumps(key, default=str)])
    return [dict(r) for r in rows]


def _deploy(db: PlpyDatabase, deploy: int) -> dict[str, Any] | None:
    if not deploy:
        return None
    rows = db.query(query("lineage_deploy"), [deploy])
    if not rows:
        return {"id": deploy, "pruned": True, "digest": None}
    d = rows[0]
    return {"id": d["id"], "action": d["action"], "digest": d["digest_after"],
            "deployed_at": d["deployed_at"], "deployed_by": d["deployed_by"]}  # fmt: skip


def _role(db: PlpyDatabase, oid: int) -> str:
    rows = db.query(query("lineage_role"), [oid])
    return str(rows[0]["name"]) if rows else f"(dropped role with oid {oid})"


def _changes(
    db: PlpyDatabase, route: Mapping[str, Any], column: str, key: dict[str, Any], stamp: bytes,
    inferred: set[str],
) -> list[dict[str, Any]]:  # fmt: skip
    rows = db.query(query("lineage_changes_of"),
                    [route["relid"], column, json.dumps(key, default=str), stamp])  # fmt: skip
    found = []
    for r in rows:
        changed = list(r["changed"] or [])
        found.append({
            "id": r["id"], "at": r["changed_at"], "by": r["changed_by"], "xact": r["xact"],
            "columns": changed, "old_values": _json(r["old_values"]),
            "inferred_columns": [c for c in changed if c in inferred],
            "forged_stamp_refused": bool(r["forged"]),
        })  # fmt: skip
    return found


def _chain(db: PlpyDatabase, trigger: str, version: int) -> list[dict[str, Any]]:
    chain = [dict(r) for r in db.query(query("lineage_chain"), [trigger, version])]
    if chain:
        last = chain[-1]
        if last["source"] != "setup" and last["parent_version"] is not None:
            chain.append({"version": last["parent_version"], "pruned": True})
    return chain


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
