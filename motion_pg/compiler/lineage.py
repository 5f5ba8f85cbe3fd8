"""Lineage columns: one ``bytea`` column per (motion trigger, relation with an infer route), where
infer stamps every row it writes (:mod:`motion_pg.runtime.stamps`).

CREATE adds the column (``WITH (lineage = true)``, the default) and two row triggers that keep it
honest (``motion.lineage_clear`` before motion's infer on INSERT, ``motion.lineage_guard`` after it
on UPDATE: Postgres fires row triggers in the byte order of their names, so they are named
``motion!…`` and ``motion~…``, which sort before and after every ``motion_…`` trigger). CREATE OR
REPLACE keeps the column of a relation it still infers into and drops the others; ``ALTER … SET
(lineage = true)`` adds missing ones (``= false`` only stops stamping); DROP drops them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from psycopg import sql

from motion_pg.errors import DefinitionError
from motion_pg.queries import query
from motion_pg.runtime.plpy_db import PlpyDatabase
from motion_pg.triggers_ddl import LINEAGE_KINDS, pg_trigger_name

_MAX = 63  # bytes: Postgres' NAMEDATALEN - 1


def column_name(trigger: str) -> str:
    """The lineage column of motion trigger ``trigger``: ``<trigger>_lineage``, shortened with a
    digest when that is longer than Postgres' 63-byte identifier limit."""
    name = f"{trigger}_lineage"
    if len(name.encode()) <= _MAX:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    short = trigger.encode()[:40].decode(errors="ignore")
    return f"{short}_{digest}_lineage"


def guard_names(trigger: str, ordinal: int) -> tuple[str, str]:
    """The names of the (clear, guard) triggers of a lineage column: same length as motion's
    ``motion_…`` trigger names, with ``!`` and ``~`` after ``motion`` for the firing order."""
    clear, guard = (pg_trigger_name(trigger, ordinal, kind) for kind in LINEAGE_KINDS)
    return "motion!" + clear[len("motion_") :], "motion~" + guard[len("motion_") :]


def existing(db: PlpyDatabase, trigger: str) -> dict[int, str]:
    """The lineage columns motion made for ``trigger``: relation oid → column."""
    return {
        int(r["relid"]): str(r["lineage_column"])
        for r in db.query(query("lineage_routes"), [trigger])
        if r["lineage_column"] is not None
    }


def apply(
    db: PlpyDatabase, trigger: str, *, enabled: bool, always: bool, made: Mapping[int, str]
) -> None:
    """Give each relation ``trigger`` infers into its lineage column and triggers, as recorded in
    the catalog: keep the columns in ``made`` (relid → column motion made earlier), add a new one
    when ``enabled`` (``lineage = true``), and drop those of relations it no longer infers into.
    ``always``: enable the new triggers ALWAYS (``fire_on_replica``)."""
    routes = db.query(query("lineage_routes"), [trigger])
    by_relation: dict[int, list[dict[str, Any]]] = {}
    for r in routes:
        if r["infer_method"] is not None:
            by_relation.setdefault(int(r["relid"]), []).append(r)
    for relid, group in by_relation.items():
        first = group[0]
        table = sql.Identifier(first["schema"], first["name"])
        column = made.get(relid) or next(
            (r["lineage_column"] for r in group if r["lineage_column"]), None
        )
        has_triggers = any(r["lineage_column"] for r in group)
        if column is None:
            if not enabled:
                continue
            column = column_name(trigger)
            if _column_exists(db, relid, column):
                raise DefinitionError(
                    f'motion trigger "{trigger}": relation {_quoted(db, relid)} already has a column '
                    f'"{column}", which motion did not make; motion stamps each inferred row\'s '
                    "lineage in that column",
                    hint="rename that column, or create the motion trigger WITH (lineage = false)",
                )
        if not _column_exists(db, relid, column):
            db.execute_ddl(
                sql.SQL("ALTER TABLE {} ADD COLUMN {} pg_catalog.bytea")
                .format(table, sql.Identifier(column))
                .as_string(None)
            )
        names = [] if has_triggers else _make_triggers(db, trigger, first, column, always=always)
        for i, r in enumerate(group):
            db.query(query("set_route_lineage"),
                     [trigger, r["ordinal"], column, names if i == 0 else []])  # fmt: skip
    for relid, column in made.items():
        if relid not in by_relation:
            drop_column(db, relid, column)


def drop_columns(db: PlpyDatabase, trigger: str) -> None:
    """DROP MOTION TRIGGER: drop its lineage columns (its triggers are dropped already)."""
    for relid, column in existing(db, trigger).items():
        drop_column(db, relid, column)


def drop_column(db: PlpyDatabase, relid: int, column: str) -> None:
    """Drop one lineage column, when the relation still exists."""
    found = db.query(query("relation_name"), [relid])
    if found:
        db.execute_ddl(
            sql.SQL("ALTER TABLE {} DROP COLUMN IF EXISTS {}")
            .format(sql.SQL(found[0]["relation"]), sql.Identifier(column))
            .as_string(None)
        )


def _make_triggers(
    db: PlpyDatabase, trigger: str, route: Mapping[str, Any], column: str, *, always: bool
) -> list[str]:
    table = sql.Identifier(route["schema"], route["name"])
    col = sql.Identifier(column)
    args = sql.SQL(", ").join([sql.Literal(trigger), sql.Literal(column)])
    clear, guard = guard_names(trigger, int(route["ordinal"]))
    statements = [
        sql.SQL(
            "CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW "
            "WHEN (NEW.{col} IS NOT NULL) EXECUTE FUNCTION motion.lineage_clear({args})"
        ).format(name=sql.Identifier(clear), table=table, col=col, args=args),
        sql.SQL(
            "CREATE TRIGGER {name} BEFORE UPDATE ON {table} FOR EACH ROW "
            "WHEN ((OLD.{col} IS NOT NULL OR NEW.{col} IS NOT NULL) "
            "AND OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION motion.lineage_guard({args})"
        ).format(name=sql.Identifier(guard), table=table, col=col, args=args),
    ]
    if always:
        for name in (clear, guard):
            statements.append(
                sql.SQL("ALTER TABLE {} ENABLE ALWAYS TRIGGER {}").format(
                    table, sql.Identifier(name)
                )
            )
    for statement in statements:
        db.execute_ddl(statement.as_string(None))
    return [clear, guard]


def _column_exists(db: PlpyDatabase, relid: int, column: str) -> bool:
    return bool(db.query(query("column_exists"), [relid, column])[0]["found"])


def _quoted(db: PlpyDatabase, relid: int) -> str:
    return str(db.query(query("relation_name"), [relid])[0]["relation"])
