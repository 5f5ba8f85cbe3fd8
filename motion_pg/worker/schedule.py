"""The worker's scheduler step: fire the due scheduled routes (``ON SCHEDULE``).

Firing a schedule is one statement (``fire_schedule``): it advances ``next_run_at`` and enqueues
one ``'SCHEDULE'`` job, guarded by the ``next_run_at`` this worker read. Workers racing for the same
period serialize on the schedule's row; the losers find it advanced and enqueue nothing, so a period
fires once however many workers run. The next firing is the first time the expression names after
the database's ``now()``: periods missed while no worker ran (or while the trigger was disabled)
fire once on recovery, not once each. The job is then claimed and fitted like any event.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

import psycopg

from motion_pg import cron
from motion_pg.pg import PgDatabase
from motion_pg.queries import query

log = logging.getLogger("motion_pg.worker")

BATCH = 100  # due schedules fired per step; more are fired on the next step, at once


class Scheduler:
    """Fires due schedules at most every ``poll_interval`` seconds, or sooner when the earliest
    firing is sooner; :meth:`wait_bound` tells the worker how long it may sleep."""

    def __init__(self, poll_interval: float) -> None:
        self.poll_interval = poll_interval
        self.fired = 0
        self._check_at = 0.0  # time.monotonic() of the next step that queries the database
        self._bad: set[tuple[str, int, str]] = set()  # expressions already reported unreadable

    def wait_bound(self) -> float:
        """Seconds until the scheduler must run again (never more than ``poll_interval``)."""
        return min(self.poll_interval, max(0.0, self._check_at - time.monotonic()))

    def step(self, conn: psycopg.Connection[Any]) -> int:
        """Fire the due schedules, if the time has come to look; returns the firings made."""
        if time.monotonic() < self._check_at:
            return 0
        db = PgDatabase(conn)
        fired = 0
        due = db.query(query("due_schedules"), [BATCH])
        for row in due:
            fired += self._fire(db, row)
        if len(due) == BATCH:
            self._check_at = 0.0  # more are due: look again on the next loop
        else:
            rows = db.query(query("next_schedule"))
            seconds = rows[0]["seconds"] if rows and rows[0]["seconds"] is not None else None
            wait = self.poll_interval if seconds is None else min(self.poll_interval, seconds)
            self._check_at = time.monotonic() + max(0.0, wait)
        self.fired += fired
        return fired

    def _fire(self, db: PgDatabase, row: dict[str, Any]) -> int:
        trigger, ordinal, expression = row["trigger_name"], row["ordinal"], row["cron"]
        if row.get("refit_every") is not None:  # REFIT EVERY (motion_pg.policy)
            following = row["now"] + timedelta(seconds=row["refit_every"])
            fire = "fire_refit"
        else:
            fire = "fire_schedule"
        try:
            if fire == "fire_schedule":
                following = cron.next_firing(expression, row["now"])
        except Exception as e:  # checked at CREATE; a croniter upgrade may still refuse it
            if (trigger, ordinal, expression) not in self._bad:
                self._bad.add((trigger, ordinal, expression))
                log.error('motion trigger "%s": cannot read the cron expression %r of its '
                          "schedule (route %s): %s: %s; it does not fire until it is replaced "
                          "(CREATE OR REPLACE MOTION TRIGGER)",
                          trigger, expression, ordinal, type(e).__name__, e)  # fmt: skip
            return 0
        jobs = db.query(query(fire), [trigger, ordinal, expression, row["next_run_at"], following])
        if jobs:
            log.info("fired the schedule %r of %s (job %s); next at %s", expression, trigger,
                     jobs[0]["id"], following.isoformat())  # fmt: skip
        return len(jobs)
