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

    def holds(self, conn: psycopg.Connection[Any], trigger: str, newest: int) -> bool:
        """After a claim of ``trigger`` whose newest event is ``newest``: under on_drift =
        'pause', check the events the last check did not see, before they are fitted; True when
        the trigger drifted (the caller hands the claim back, and the policy gate holds it)."""
        rows = PgDatabase(conn).query(query("drift_pause_of"), [trigger])
        if not rows or not rows[0]["pause"]:
            return False
        if newest > (rows[0]["last_event_id"] or 0):
            return self._check(conn, trigger, "pause", int(rows[0]["drift_window"]))
        return bool(rows[0]["drifted"])

    def _check(self, conn: psycopg.Connection[Any], trigger: str, action: str, window: int) -> bool:
        """Check ``trigger`` now and act on a new drift; returns whether it drifted."""
        try:
            with conn.transaction():
                status = store.check(PgDatabase(conn), trigger, window)
        except _LOST:
            raise
        except Exception as e:  # one trigger's data never stops the others' checks
            log.warning("drift check of %s failed: %s: %s", trigger, type(e).__name__, e)
            return False
        self.checks += 1
        if status.drifted and not status.was_drifted:
            self._act(conn, trigger, action, status)
        elif status.was_drifted and not status.drifted:
            log.info("%s: drift ended (%.0f%% of its columns drifted)", trigger,
                     status.share * 100)  # fmt: skip
        return status.drifted

    def _act(self, conn: psycopg.Connection[Any], trigger: str, action: str,
             status: store.Status) -> None:  # fmt: skip
        log.warning("%s: drift detected: %.0f%% of its %d profiled columns drifted (see "
                    "motion.drift); on_drift = %r", trigger, status.share * 100, status.judged,
                    action)  # fmt: skip
        if action == "refit":
            enqueue_refit(conn, trigger, f"drift: {status.share:.0%} of the columns drifted")
