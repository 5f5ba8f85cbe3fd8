"""Metrics of the features other issues brought: drift, backfill progress and lineage coverage.

- drift (``motion.drift_figures``, one row per profiled column): the last test's statistic and
  threshold, whether the column drifted, and per trigger the share of drifted columns;
- backfill (``motion.backfills``): per running run and each trigger's last finished one, rows to
  visit, visited and re-inferred;
- lineage coverage (``motion.lineage_coverage()``): per route with a lineage column, the share of the
  relation's rows that carry a stamp. Counting rows costs a scan, so it is exact up to a bounded
  number of pages, sampled beyond, and recomputed at most every :data:`COVERAGE_EVERY` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from prometheus_client.core import GaugeMetricFamily, Metric

from motion_pg.pg import PgDatabase
from motion_pg.queries import query

log = logging.getLogger("motion_pg.metrics")

COVERAGE_EVERY = 60.0  # seconds between two computations of lineage coverage
COVERAGE_PAGES = 1000  # pages read per route at most (beyond: a TABLESAMPLE of this many)
_COLUMN = ["trigger", "relation", "column"]


class Figures:
    """Reads the figures a scrape at a time; lineage coverage is cached between computations."""

    def __init__(self, coverage_every: float = COVERAGE_EVERY) -> None:
        self.coverage_every = coverage_every
        self.drift: list[dict[str, Any]] = []
        self.backfills: list[dict[str, Any]] = []
        self.coverage: list[dict[str, Any]] = []
        self._covered_at: float | None = None

    def update(self, db: PgDatabase) -> None:
        """Read drift and backfill figures (two small queries), and coverage when due."""
        self.drift = db.query(query("metrics_drift"))
        self.backfills = db.query(query("metrics_backfills"))
        now = time.monotonic()
        if self._covered_at is None or now - self._covered_at >= self.coverage_every:
            self._covered_at = now
            try:
                self.coverage = db.query(query("metrics_lineage_coverage"), [COVERAGE_PAGES])
            except psycopg.Error as e:  # e.g. a role without EXECUTE or an older schema
                log.warning("metrics: cannot compute lineage coverage: %s", str(e).strip())
                self.coverage = []

    def families(self) -> Iterator[Metric]:
        """Every family of these figures."""
        yield from drift_families(self.drift)
        yield from backfill_families(self.backfills)
        yield from coverage_families(self.coverage)


def drift_families(rows: Sequence[dict[str, Any]]) -> Iterator[Metric]:
    """Drift per column (statistic, threshold, verdict) and per trigger (share, verdict)."""
    labels = [*_COLUMN, "statistic"]
    value = GaugeMetricFamily(
        "motion_drift_statistic", "the last drift test's statistic of a column (a p-value or a "
        "distance, named by the statistic label); absent while too few events", labels=labels,
    )  # fmt: skip
    threshold = GaugeMetricFamily(
        "motion_drift_threshold", "the threshold the statistic is judged against", labels=labels
    )
    drifted = GaugeMetricFamily(
        "motion_drift_column_drifted", "1 when the column's last test found drift", labels=_COLUMN
    )
    events = GaugeMetricFamily(
        "motion_drift_current_events", "events in the column's current profile", labels=_COLUMN
    )
    share = GaugeMetricFamily(
        "motion_drift_share",
        "share of the trigger's profiled columns that drifted",
        labels=["trigger"],
    )
    verdict = GaugeMetricFamily(
        "motion_drift_drifted", "1 when the trigger is judged drifted", labels=["trigger"]
    )
    seen: set[str] = set()
    for r in rows:
        column = [r["trigger_name"], r["relation"], r["column_name"]]
        if r["value"] is not None:
            value.add_metric([*column, r["statistic"]], float(r["value"]))
        threshold.add_metric([*column, r["statistic"]], float(r["threshold"]))
        drifted.add_metric(column, 1.0 if r["drifted"] else 0.0)
        events.add_metric(column, float(r["current_count"]))
        if r["trigger_name"] not in seen and r["trigger_share"] is not None:
            seen.add(r["trigger_name"])
            share.add_metric([r["trigger_name"]], float(r["trigger_share"]))
            verdict.add_metric([r["trigger_name"]], 1.0 if r["trigger_drifted"] else 0.0)
    yield from (value, threshold, drifted, events, share, verdict)


def backfill_families(rows: Sequence[dict[str, Any]]) -> Iterator[Metric]:
    """Backfill progress per run: rows to visit, visited, re-inferred, and whether it runs."""
    labels = ["trigger", "run"]
    total = GaugeMetricFamily(
        "motion_backfill_rows",
        "rows the backfill run visits (counted when it started)",
        labels=labels,
    )
    visited = GaugeMetricFamily(
        "motion_backfill_rows_visited", "rows the backfill run visited so far", labels=labels
    )
    inferred = GaugeMetricFamily(
        "motion_backfill_rows_inferred", "rows the backfill run re-inferred so far", labels=labels
    )
    running = GaugeMetricFamily(
        "motion_backfill_running",
        "1 while the backfill run runs (0: done or superseded)",
        labels=labels,
    )
    for r in rows:
        run = [r["trigger_name"], str(r["id"])]
        total.add_metric(run, float(r["total"]))
        visited.add_metric(run, float(r["visited"]))
        inferred.add_metric(run, float(r["inferred"]))
        running.add_metric(run, 1.0 if r["state"] == "running" else 0.0)
    yield from (total, visited, inferred, running)


def coverage_families(rows: Sequence[dict[str, Any]]) -> Iterator[Metric]:
    """Lineage coverage per route: the share of rows with a stamp, and the counts behind it."""
    ratio = GaugeMetricFamily(
        "motion_lineage_coverage_ratio", "share of the relation's rows whose lineage column "
        "holds a stamp (absent for an empty relation)", labels=_COLUMN,
    )  # fmt: skip
    total = GaugeMetricFamily(
        "motion_lineage_rows", "rows of the relation (estimated when sampled)", labels=_COLUMN
    )
    stamped = GaugeMetricFamily(
        "motion_lineage_rows_stamped", "rows of the relation with a lineage stamp (estimated "
        "when sampled)", labels=_COLUMN,
    )  # fmt: skip
    sampled = GaugeMetricFamily(
        "motion_lineage_coverage_sampled", "1 when coverage was estimated from a sample of the "
        "relation's pages, 0 when counted", labels=_COLUMN,
    )  # fmt: skip
    for r in rows:
        column = [r["trigger_name"], r["relation"], r["lineage_column"]]
        if r["coverage"] is not None:
            ratio.add_metric(column, float(r["coverage"]))
        total.add_metric(column, float(r["rows_total"]))
        stamped.add_metric(column, float(r["rows_stamped"]))
        sampled.add_metric(column, 1.0 if r["sampled"] else 0.0)
    yield from (ratio, total, stamped, sampled)
