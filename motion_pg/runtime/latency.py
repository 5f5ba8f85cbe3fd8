"""Infer latency, sampled in the backend at no measurable cost to the infer path.

Once per statement :func:`statement` (called by ``backend.check_serving``) counts the statement
for its trigger; one statement in :data:`EVERY` (the first of each backend included) is sampled:
its first :data:`ROWS` rows' infer calls are timed (``backend.infer_row`` tests one dict membership
per row, and calls :func:`timed` only for those). Timings go into a histogram in this backend's
memory (:data:`BOUNDS`).

Batch mode (:mod:`motion_pg.runtime.batch`) has no statement trigger before its rows: its AFTER
statement trigger calls :func:`batch_statement` instead, which counts the statement the same way and
says whether it is sampled; a sampled statement's ``infer_batch`` call is timed once
(:func:`record_batch`) and counts as one sample per row of the call's per-row latency (the call's
seconds over its rows), so the exported histogram stays "seconds of infer per row" in both modes
and its ``_sum`` the seconds spent.

At most every :data:`FLUSH_EVERY` seconds, from the next statement's :func:`statement`, the
backend writes its whole cumulative histograms (never deltas) into ``motion.infer_latency``, one
row per trigger and backend, in a subtransaction of the user's transaction. A flush that rolls
back with that transaction is harmless: the backend's next flush carries the same totals and more.
Samples are lost only when every flush since a backend's last committed one rolls back and the
backend then exits. A failing flush never fails the user's statement: the backend stops flushing
and warns once (errors that must reach the client, such as a cancel, still propagate).
"""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Callable
from typing import Any, TypeVar

EVERY = 10  # one statement in EVERY per trigger and backend is sampled
ROWS = 10  # rows of a sampled statement that are timed, at most
FLUSH_EVERY = 5.0  # seconds between two flushes of a backend, at least
# upper bounds in seconds of the histogram's buckets (a last bucket counts the rest: +Inf)
BOUNDS: tuple[float, ...] = (
    0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip

# trigger -> rows of the current statement still to time; backend.infer_row tests membership
sampling: dict[str, int] = {}
_statements: dict[str, int] = {}
_histograms: dict[str, list[float]] = {}  # trigger -> [count per bucket..., sum, count]
_dirty = False
_flushed_at = 0.0
_broken = False
_plan: Any = None
# SQLSTATE classes a flush must let through (see outputs._PROPAGATE)
_PROPAGATE = frozenset({"40", "53", "57", "58", "XX"})

_FLUSH = """
INSERT INTO motion.infer_latency AS l
    (trigger_name, pid, backend_start, buckets, sum_seconds, count)
SELECT h.key, pg_catalog.pg_backend_pid(),
       (SELECT a.backend_start FROM pg_catalog.pg_stat_get_activity(pg_catalog.pg_backend_pid()) a),
       ARRAY(SELECT pg_catalog.jsonb_array_elements_text(h.value -> 'b')::bigint),
       (h.value ->> 's')::float8, (h.value ->> 'c')::bigint
FROM pg_catalog.jsonb_each($1) h
ON CONFLICT (trigger_name, pid, backend_start) DO UPDATE SET
    buckets = excluded.buckets, sum_seconds = excluded.sum_seconds, count = excluded.count,
    updated_at = pg_catalog.now()
"""

R = TypeVar("R")


def statement(plpy: Any, name: str) -> None:
    """Count a statement of trigger ``name``; sample it if its turn came; flush when due."""
    seen = _statements.get(name, 0)
    _statements[name] = seen + 1
    if seen % EVERY == 0:
        sampling[name] = ROWS
    elif sampling:
        sampling.pop(name, None)
    if _dirty and time.monotonic() - _flushed_at >= FLUSH_EVERY:
        flush(plpy)


def batch_statement(plpy: Any, name: str) -> bool:
    """Count a batch-mode statement of trigger ``name``; whether its ``infer_batch`` call is
    sampled. Flushes when due, like :func:`statement`."""
    seen = _statements.get(name, 0)
    _statements[name] = seen + 1
    if _dirty and time.monotonic() - _flushed_at >= FLUSH_EVERY:
        flush(plpy)
    return seen % EVERY == 0


def record_batch(name: str, seconds: float, rows: int) -> None:
    """Add one sampled ``infer_batch`` call of ``rows`` rows that took ``seconds``: ``rows``
    samples of ``seconds / rows`` each."""
    global _dirty
    if rows <= 0:
        return
    histogram = _histograms.get(name)
    if histogram is None:
        histogram = _histograms[name] = [0.0] * (len(BOUNDS) + 3)
    histogram[bisect.bisect_left(BOUNDS, seconds / rows)] += rows
    histogram[-2] += seconds
    histogram[-1] += rows
    _dirty = True


def timed(name: str, func: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """``func(*args, **kwargs)``, timed as one sample of trigger ``name``'s infer latency."""
    start = time.perf_counter()
    try:
        return func(*args, **kwargs)
    finally:
        record(name, time.perf_counter() - start)


def record(name: str, seconds: float) -> None:
    """Add one sample; the statement's sampling ends after :data:`ROWS` of them."""
    global _dirty
    left = sampling.get(name, 0) - 1
    if left > 0:
        sampling[name] = left
    else:
        sampling.pop(name, None)
    histogram = _histograms.get(name)
    if histogram is None:
        histogram = _histograms[name] = [0.0] * (len(BOUNDS) + 3)
    histogram[bisect.bisect_left(BOUNDS, seconds)] += 1
    histogram[-2] += seconds
    histogram[-1] += 1
    _dirty = True


def snapshot() -> dict[str, dict[str, Any]]:
    """This backend's cumulative histograms: ``{trigger: {"b": counts, "s": sum, "c": count}}``."""
    return {
        name: {"b": [int(n) for n in h[:-2]], "s": h[-2], "c": int(h[-1])}
        for name, h in _histograms.items()
    }


def flush(plpy: Any) -> int:
    """Write this backend's histograms into ``motion.infer_latency``; returns the triggers written."""
    global _dirty, _flushed_at, _broken, _plan
    _flushed_at = time.monotonic()
    if _broken or not _histograms:
        return 0
    data = snapshot()
    try:
        with plpy.subtransaction():
            if _plan is None:
                _plan = plpy.prepare(_FLUSH, ["jsonb"])
            _plan.execute([json.dumps(data)])
    except plpy.SPIError as e:
        if (getattr(e, "sqlstate", None) or "")[:2] in _PROPAGATE:
            raise
        _broken = True
        plpy.warning(f"motion: infer latency samples are no longer recorded by this backend: {e}")
        return 0
    _dirty = False
    return len(data)
