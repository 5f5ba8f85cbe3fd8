"""Async infer metrics (``infer_mode = 'async'``): rows waiting for the worker and freshness, the
seconds from a row's write (its statement, in the writer's transaction) to its outputs written."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

# the worker's histogram bounds (motion_pg.worker.async_infer.FRESHNESS_BOUNDS)
BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
_LABELS = ["trigger"]


def families(rows: Sequence[dict[str, Any]]) -> Iterator[Metric]:
    """The async metric families from ``async_metrics`` rows (one per async trigger)."""
    pending = GaugeMetricFamily(
        "motion_async_pending_rows", "written rows waiting for async infer", labels=_LABELS
    )
    oldest = GaugeMetricFamily(
        "motion_async_oldest_pending_seconds",
        "age of the oldest row waiting for async infer (0 when none waits)",
        labels=_LABELS,
    )
    failed = CounterMetricFamily(
        "motion_async_infer_failures", "rows whose async infer failed", labels=_LABELS
    )
    last = GaugeMetricFamily(
        "motion_async_last_freshness_seconds",
        "freshness of the last row whose async outputs were written",
        labels=_LABELS,
    )
    freshness = HistogramMetricFamily(
        "motion_async_freshness_seconds",
        "seconds from a row's write to its async outputs written (commit -> outputs)",
        labels=_LABELS,
    )
    for r in rows:
        name = [r["name"]]
        pending.add_metric(name, float(r["pending"]))
        oldest.add_metric(name, float(r["oldest_pending_s"]))
        failed.add_metric(name, float(r["failed"]))
        if r["last_seconds"] is not None:
            last.add_metric(name, float(r["last_seconds"]))
        counts = list(r["buckets"] or [])[: len(BOUNDS) + 1]
        counts += [0] * (len(BOUNDS) + 1 - len(counts))
        edges = [repr(float(b)) for b in BOUNDS] + ["+Inf"]
        buckets = list(zip(edges, accumulate(float(n) for n in counts), strict=True))
        freshness.add_metric(name, buckets, float(r["sum_seconds"]))
    yield from (pending, oldest, failed, last, freshness)
