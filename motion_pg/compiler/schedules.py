"""The scheduled routes of CREATE [OR REPLACE] MOTION TRIGGER (``ON SCHEDULE 'cron' [FIT m]``).

A schedule's route ordinal follows the relation routes' (``len(routes) + i``), so every event of a
trigger names one route, and ``Event.route`` tells schedule events from row events. The worker fires
schedules (:mod:`motion_pg.worker.schedule`) from the rows written here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from motion_pg import cron
from motion_pg.dsl.spec import CreateMotionTrigger
from motion_pg.errors import DefinitionError
from motion_pg.queries import query
from motion_pg.runtime import loader
from motion_pg.runtime.plpy_db import PlpyDatabase
from motion_pg.trigger import Trigger


@dataclass(frozen=True)
class ResolvedSchedule:
    """A scheduled route checked at CREATE: a valid expression and a fit method the class has."""

    ordinal: int
    cron: str
    fit: str
    next_run_at: datetime


def resolve(stmt: CreateMotionTrigger, instance: Trigger) -> list[ResolvedSchedule]:
    """Check each schedule of ``stmt``; raise :class:`DefinitionError` naming the trigger and the
    expression for a bad expression, and a clear error for a missing fit method."""
    resolved: list[ResolvedSchedule] = []
    for i, schedule in enumerate(stmt.schedules):
        next_run_at = cron.validate(stmt.name, schedule.cron)
        if schedule.fit is None and not callable(getattr(instance, "fit", None)):
            raise DefinitionError(
                f'motion trigger "{stmt.name}": ON SCHEDULE {schedule.cron!r} has no fit method',
                hint=f"class {stmt.using!r} defines no fit method; name one with FIT",
            )
        method = schedule.fit or "fit"
        loader.method(instance, method, stmt.using)
        resolved.append(ResolvedSchedule(len(stmt.routes) + i, schedule.cron, method, next_run_at))
    return resolved


def write(db: PlpyDatabase, name: str, schedules: list[ResolvedSchedule]) -> None:
    """Record the trigger's schedules, dropping those it no longer has. An unchanged expression
    keeps its next firing (CREATE OR REPLACE does not reset the clock)."""
    for s in schedules:
        db.query(
            query("upsert_schedule"), [name, s.ordinal, s.cron, s.fit, s.next_run_at.isoformat()]
        )
    db.query(query("delete_other_schedules"), [name, [s.ordinal for s in schedules]])
