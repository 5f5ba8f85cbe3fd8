"""Backpressure: what the worker sheds from a backlog before it claims.

When events arrive faster than fit folds them, a trigger may choose (``WITH (...)``):

- keep every event (the default);
- ``discard_after = '10 minutes'``: events older than that when the worker comes to claim are
  dropped;
- ``keep_latest = n``: only the newest n pending events are kept.

Shedding is one statement (``shed_backlog``) run before each claim, separate from the claim query:
it deletes the doomed pending events and records their count, reason and times in
``motion.discards`` (``motion-pg status`` shows them, the metrics collector counts them). Events
a claim holds are never touched, and a scheduled firing is never dropped.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from motion_pg.pg import PgDatabase
from motion_pg.queries import query

log = logging.getLogger("motion_pg.worker")


class Shedder:
    """Sheds backlogs before claims; :attr:`discarded` counts what this worker dropped."""

    def __init__(self) -> None:
        self.discarded = 0

    def step(self, conn: psycopg.Connection[Any]) -> int:
        """Drop what the backlog policies of enabled triggers say must go; returns how many."""
        dropped = 0
        for row in PgDatabase(conn).query(query("shed_backlog")):
            count = int(row["events"])
            dropped += count
            log.info("discarded %d pending event(s) of %s (%s)", count, row["trigger_name"],
                     row["reason"])  # fmt: skip
        self.discarded += dropped
        return dropped
