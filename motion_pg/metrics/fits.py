"""Fit totals per trigger, kept by the metrics process from ``motion.runs`` a scrape at a time.

Counters must never go down, and runs may be pruned: so each finished run is counted once, when a
scrape first sees it, and the totals live in this process. A scrape reads only the runs from a
watermark on (the oldest run that may still change or still appear), so it costs what happened
since the last one; the first scrape reads the whole history once.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from motion_pg.pg import PgDatabase
from motion_pg.queries import query

# upper bounds in seconds of the fit duration histogram's buckets (+Inf is the last bucket)
FIT_BOUNDS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip


@dataclass
class FitTotals:
    """One trigger's totals: succeeded fits' durations, events they fitted, failed fits."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(FIT_BOUNDS) + 1))
    seconds: float = 0.0
    fits: int = 0
    events: int = 0
    failures: int = 0


class FitTracker:
    """Counts each finished run of ``motion.runs`` once, across scrapes."""

    def __init__(self) -> None:
        self.totals: dict[str, FitTotals] = {}
        self._from = 0  # no run below this id can still change or appear
        self._seen: set[int] = set()  # counted runs at or above self._from

    def update(self, db: PgDatabase) -> None:
        """Count the runs that finished since the last call (one query)."""
        rows = db.query(query("metrics_runs"), [self._from, sorted(self._seen)])
        for row in rows:
            if row["id"] is not None and row["id"] not in self._seen:
                self._seen.add(row["id"])
                self._count(row)
        if rows:
            self._from = max(self._from, rows[0]["next"])
            self._seen = {i for i in self._seen if i >= self._from}

    def _count(self, run: dict[str, Any]) -> None:
        totals = self.totals.setdefault(run["trigger_name"], FitTotals())
        if run["state"] == "succeeded":
            seconds = max(run["seconds"] or 0.0, 0.0)
            totals.buckets[bisect.bisect_left(FIT_BOUNDS, seconds)] += 1
            totals.seconds += seconds
            totals.fits += 1
            totals.events += run["jobs"]
        elif run["state"] == "failed":
            totals.failures += 1
