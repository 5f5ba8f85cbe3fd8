"""STATE PER at CREATE and ALTER: checking the key columns, recording them, and rolling keys back.

A keyed trigger keeps one state per value of its STATE PER columns (``motion.key_states``); its
trigger-wide state (from ``setup``) stays in the ordinary versions and is every key's default.
"""

from __future__ import annotations

from collections.abc import Sequence

from motion_pg.dsl.spec import CreateMotionTrigger
from motion_pg.errors import DefinitionError, UnknownColumn
from motion_pg.queries import query
from motion_pg.runtime.plpy_db import PlpyDatabase
from motion_pg.triggers_ddl import ResolvedRoute


def check(
    db: PlpyDatabase, stmt: CreateMotionTrigger, routes: Sequence[ResolvedRoute], batch: bool
) -> None:
    """Refuse STATE PER columns a routed relation lacks, a scheduled route (its events have no
    row, so no key) and batch infer (``batch``: a route would infer in batch mode)."""
    per = stmt.state_per
    if per is None:
        return
    if stmt.schedules:
        raise DefinitionError(
            f'motion trigger "{stmt.name}": STATE PER cannot go with ON SCHEDULE: a scheduled '
            "event has no row, so no key",
            hint="make the scheduled fit a separate motion trigger without STATE PER",
        )
    for route in routes:
        names = {c["name"] for c in db.query(query("relation_columns"), [route.relid])}
        missing = [c for c in per if c not in names]
        if missing:
            raise UnknownColumn(
                f'motion trigger "{stmt.name}": STATE PER column "{missing[0]}" does not exist '
                f"in {route.relation}",
                hint=f"every routed relation needs the key columns; {route.relation} has: "
                + ", ".join(sorted(names)),
            )
    if batch:
        raise DefinitionError(
            f'motion trigger "{stmt.name}": a trigger with STATE PER infers row by row (each row '
            "sees its own key's state), but its class defines infer_batch",
            hint="add WITH (infer_mode = 'row')",
        )


def write(db: PlpyDatabase, name: str, per: Sequence[str] | None, previous: Sequence[str] | None,
          replaced: bool) -> None:  # fmt: skip
    """Record ``per`` as the trigger's STATE PER columns. OR REPLACE with other columns than
    ``previous`` drops the key states: they were kept for other keys."""
    db.query(query("set_state_per"), [name, list(per) if per is not None else None])
    if replaced and (list(per or ()) != list(previous or ())):
        db.query(query("drop_key_states"), [name])


def state_per(db: PlpyDatabase, name: str) -> list[str] | None:
    """The STATE PER columns of trigger ``name`` (None: one state)."""
    rows = db.query(query("trigger_state_per"), [name])
    if not rows or rows[0]["state_per"] is None:
        return None
    return list(rows[0]["state_per"])


def rollback(db: PlpyDatabase, name: str, target: int, version: int) -> None:
    """ROLLBACK TO VERSION ``target``, written as ``version``: every key changed since ``target``
    gets its state at ``target`` back (a key rolls back with its trigger)."""
    if state_per(db, name) is not None:
        db.query(query("rollback_keys"), [name, target, version])
