"""The worker's drift step: every ``interval`` seconds, profile the recent events of each trigger
that keeps drift profiles (``on_drift`` set, or a policy reading drift), test them against the
reference (:mod:`motion_pg.drift.store`) and act on a new drift as ``on_drift`` says: 'alert'
logs it, 'refit' enqueues a REFIT, 'pause' holds fitting (the claim path reads the status) until
the drift ends, the reference is pinned again, or the trigger is refitted."""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg

from motion_pg.drift import store
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.worker.policy import enqueue_refit

log = logging.getLogger("motion_pg.worker")
_LOST = (psycopg.OperationalError, psycopg.InterfaceError)


class DriftWatch:
    """Checks drift at most every ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._next = 0.0
        self.checks = 0

    def step(self, conn: psycopg.Connection[Any]) -> None:
        """Check every profiled trigger, if the time has come."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval
        db = PgDatabase(conn)
        for row in db.query(query("drift_triggers")):
            self._check(conn, row["name"], row["on_drift"], int(row["drift_window"]))

    def guard(self, conn: psycopg.Connection[Any]) -> None:
        """Before a claim: check the triggers under on_drift = 'pause' that have pending events
        their last check did not see, so a poisoned batch is held before it is fitted."""
        db = PgDatabase(conn)
        for row in db.query(query("pause_unchecked")):
            self._check(conn, row["name"], "pause", int(row["drift_window"]))

    def _check(self, conn: psycopg.Connection[Any], trigger: str, action: str, window: int) -> None:
        try:
            with conn.transaction():
                status = store.check(PgDatabase(conn), trigger, window)
        except _LOST:
            raise
        except Exception as e:  # one trigger's data never stops the others' checks
            log.warning("drift check of %s failed: %s: %s", trigger, type(e).__name__, e)
            return
        self.checks += 1
        if status.drifted and not status.was_drifted:
            self._act(conn, trigger, action, status)
        elif status.was_drifted and not status.drifted:
            log.info("%s: drift ended (%.0f%% of its columns drifted)", trigger,
                     status.share * 100)  # fmt: skip

    def _act(self, conn: psycopg.Connection[Any], trigger: str, action: str,
             status: store.Status) -> None:  # fmt: skip
        log.warning("%s: drift detected: %.0f%% of its %d profiled columns drifted (see "
                    "motion.drift); on_drift = %r", trigger, status.share * 100, status.judged,
                    action)  # fmt: skip
        if action == "refit":
            enqueue_refit(conn, trigger, f"drift: {status.share:.0%} of the columns drifted")
