"""The Prometheus collector: motion's metrics per trigger, read from the catalog on each scrape.

Names follow Prometheus' conventions: a ``motion_`` prefix, ``_total`` counters, ``_seconds`` and
``_bytes`` units, a label ``trigger`` (and ``relation``, ``column``, ``run`` where a figure is per
column or per run). A scrape runs a fixed number of queries whatever the number of triggers
(``metrics_triggers``, ``metrics_runs``, and small ones for async infer, backlog, drift and
backfills: :mod:`motion_pg.metrics.figures`), plus, at most once a minute, a fold of the infer
latency rows of backends that exited (``motion.fold_infer_latency()``) and the lineage coverage.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import Any

import psycopg
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from motion_pg.errors import MotionError
from motion_pg.metrics.async_infer import families as async_families
from motion_pg.metrics.figures import Figures
from motion_pg.metrics.fits import FIT_BOUNDS, FitTracker
from motion_pg.pg import MOTION_OPTIONS, PgDatabase, connect
from motion_pg.queries import query
from motion_pg.runtime.latency import BOUNDS as INFER_BOUNDS

log = logging.getLogger("motion_pg.metrics")

FOLD_EVERY = 60.0  # seconds between two folds of exited backends' latency rows
_LABELS = ["trigger"]


def _buckets(bounds: Sequence[float], counts: Sequence[int]) -> list[tuple[str, float]]:
    """Per-bucket counts as the cumulative ``(le, count)`` pairs Prometheus wants, +Inf last."""
    counts = list(counts)[: len(bounds) + 1]
    counts += [0] * (len(bounds) + 1 - len(counts))
    edges = [repr(float(b)) for b in bounds] + ["+Inf"]
    return list(zip(edges, accumulate(float(n) for n in counts), strict=True))


class CatalogCollector:
    """Collects motion's metrics from the database at ``dsn`` when Prometheus scrapes."""

    def __init__(self, dsn: str, coverage_every: float | None = None) -> None:
        self.dsn = dsn
        # drift, backfill progress, lineage coverage (coverage_every: seconds between two
        # computations of lineage coverage; default figures.COVERAGE_EVERY)
        self._figures = Figures() if coverage_every is None else Figures(coverage_every)
        self._conn: psycopg.Connection[Any] | None = None
        self._fits = FitTracker()
        self._folded = 0.0
        self._async: list[dict[str, Any]] = []  # async_metrics rows of the last scrape
        self._lock = threading.Lock()  # the HTTP server may serve two scrapes at once
        self._backlog: dict[str, dict[str, Any]] = {}  # backlog_status rows of the last scrape

    def _db(self) -> PgDatabase:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(self.dsn, autocommit=True, application_name="motion-pg metrics",
                                 options=MOTION_OPTIONS)  # fmt: skip
        return PgDatabase(self._conn)

    def close(self) -> None:
        """Close the collector's database connection."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def collect(self) -> Iterator[Metric]:
        """Yield every metric; ``motion_up`` is 0 (and nothing else) when the database is out of
        reach, so a scrape never fails with an HTTP error."""
        with self._lock:
            started = time.monotonic()
            try:
                rows = self._read()
            except (MotionError, psycopg.Error) as e:
                log.warning("metrics: cannot read the catalog: %s", str(e).strip().splitlines()[0])
                self.close()
                rows = None
            up = GaugeMetricFamily(
                "motion_up", "1 when the last scrape could read motion's catalog"
            )
            up.add_metric([], 0.0 if rows is None else 1.0)
            yield up
            if rows is None:
                return
            yield from self._families(rows)
            took = GaugeMetricFamily(
                "motion_scrape_duration_seconds",
                "seconds the last scrape spent reading the catalog",
            )
            took.add_metric([], time.monotonic() - started)
            yield took

    def _read(self) -> list[dict[str, Any]]:
        db = self._db()
        if time.monotonic() - self._folded > FOLD_EVERY:
            self._folded = time.monotonic()
            try:
                db.query("SELECT motion.fold_infer_latency()")
            except psycopg.Error as e:  # e.g. a role without EXECUTE: read unfolded rows
                log.warning("metrics: cannot fold infer latency rows: %s", str(e).strip())
        self._fits.update(db)
        self._async = db.query(query("async_metrics"))
        self._backlog = {r["name"]: r for r in db.query(query("backlog_status"))}
        self._figures.update(db)
        return db.query(query("metrics_triggers"))

    def _families(self, rows: list[dict[str, Any]]) -> Iterator[Metric]:
        def gauge(name: str, doc: str, key: str) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=_LABELS)
            for r in rows:
                family.add_metric([r["name"]], float(r[key]))
            return family

        yield gauge("motion_jobs_pending", "fit jobs waiting to be fitted (queue depth)", "pending")
        yield gauge("motion_jobs_running", "fit jobs claimed by a running fit", "running")
        yield gauge("motion_jobs_dead", "fit jobs parked after their last attempt failed", "dead")
        yield gauge("motion_oldest_pending_age_seconds", "age of the oldest pending fit job "
                    "(0 when none is pending)", "oldest_pending_s")  # fmt: skip
        yield gauge("motion_serving_version", "the state version infer serves", "serving_version")
        yield gauge("motion_state_bytes", "pickled size of the serving state version",
                    "state_bytes")  # fmt: skip
        errors = CounterMetricFamily("motion_infer_errors", "rows whose infer failed under "
                                     "on_error = 'skip' (motion.infer_errors)", labels=_LABELS)  # fmt: skip
        latency = HistogramMetricFamily(
            "motion_infer_latency_seconds",
            "infer latency per row, sampled in the backends (one statement in ten; a sampled "
            "batch-mode statement counts its infer_batch call as one sample per row)",
            labels=_LABELS,
        )
        for r in rows:
            errors.add_metric([r["name"]], float(r["infer_errors"]))
            latency.add_metric(
                [r["name"]], _buckets(INFER_BOUNDS, r["latency_buckets"] or []),
                float(r["latency_sum"]),
            )  # fmt: skip
        yield errors
        yield latency
        yield self._discarded([r["name"] for r in rows])
        yield from self._fit_families([r["name"] for r in rows])
        yield from async_families(self._async)
        yield from self._figures.families()

    def _discarded(self, names: list[str]) -> Metric:
        family = CounterMetricFamily(
            "motion_events_discarded", "pending fit events dropped by backpressure "
            "(discard_after, keep_latest; motion.discards)", labels=[*_LABELS, "reason"],
        )  # fmt: skip
        for name in names:
            row = self._backlog.get(name, {})
            family.add_metric([name, "discard_after"], float(row.get("discarded_too_old", 0)))
            family.add_metric([name, "keep_latest"], float(row.get("discarded_beyond_latest", 0)))
        return family

    def _fit_families(self, names: list[str]) -> Iterator[Metric]:
        duration = HistogramMetricFamily(
            "motion_fit_duration_seconds", "duration of succeeded fit runs", labels=_LABELS
        )
        events = CounterMetricFamily(
            "motion_events_fitted", "events folded into state by succeeded fits", labels=_LABELS
        )
        failures = CounterMetricFamily(
            "motion_fit_failures", "fit runs that failed (each attempt counts)", labels=_LABELS
        )
        for name in names:
            totals = self._fits.totals.get(name)
            if totals is None:
                duration.add_metric([name], _buckets(FIT_BOUNDS, []), 0.0)
                events.add_metric([name], 0.0)
                failures.add_metric([name], 0.0)
                continue
            duration.add_metric([name], _buckets(FIT_BOUNDS, totals.buckets), totals.seconds)
            events.add_metric([name], float(totals.events))
            failures.add_metric([name], float(totals.failures))
        yield duration
        yield events
        yield failures
