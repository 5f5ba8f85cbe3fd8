"""A1: async infer freshness (commit → outputs written) at 1, 10 and 100 rows/s of a 200 ms infer.

Single-row autocommit INSERTs arrive at a steady rate into a table routed by an
``infer_mode = 'async'`` trigger whose infer takes 200 ms: once per ``infer_batch`` call
(``SlowBatch``, a batched model server) and once per row (``SlowRow``, the worker's
``--infer-threads 32`` call rows in parallel). A plain BEFORE UPDATE trigger of the bench stamps
``written_at`` when the label arrives; freshness is ``written_at - created_at`` per row (the INSERT
commits right after ``created_at``). Also reported: the writer's INSERT latency, which async mode
keeps free of infer.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import motion_pg
from bench.harness import Bench, Row, median, percentile, wait_until

RATES = (1, 10, 100)
VARIANTS = (("batch", "SlowBatch"), ("row", "SlowRow"))
WORKER = [str(Path(sys.executable).parent / "motion-pg"), "worker", "--infer-threads", "32"]
TABLE = """
CREATE TABLE a1_{v} (id bigserial PRIMARY KEY, x int NOT NULL, label text,
                     created_at timestamptz NOT NULL DEFAULT clock_timestamp(), written_at timestamptz);
CREATE FUNCTION a1_{v}_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.label IS NULL AND NEW.label IS NOT NULL THEN NEW.written_at := clock_timestamp(); END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER a1_written BEFORE UPDATE ON a1_{v} FOR EACH ROW EXECUTE FUNCTION a1_{v}_written();
"""


def _run_rate(bench: Bench, table: str, rate: int, seconds: float) -> dict[str, float]:
    """Insert at ``rate`` rows/s for ``seconds``; wait for every label; freshness figures."""
    with bench.connect() as writer, bench.connect() as admin:
        admin.execute(f"TRUNCATE {table}")
        latencies: list[float] = []
        n = max(1, int(rate * seconds))
        started = time.perf_counter()
        for i in range(n):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t = time.perf_counter()
            writer.execute(f"INSERT INTO {table} (x) VALUES (%s)", [i])
            latencies.append((time.perf_counter() - t) * 1000)

        def labelled() -> bool:
            row = admin.execute(f"SELECT count(*) FROM {table} WHERE label IS NULL").fetchone()
            return row is not None and row[0] == 0

        wait_until(labelled, 120 + seconds, f"async outputs of {table}", interval=0.05)
        fresh = [
            float(r[0])
            for r in admin.execute(
                f"SELECT extract(epoch FROM written_at - created_at) FROM {table}"
            ).fetchall()
        ]
    return {
        "p50_s": median(fresh), "p95_s": percentile(fresh, 95), "max_s": max(fresh),
        "insert_p50_ms": median(latencies), "rows": float(n),
    }  # fmt: skip


def a1(bench: Bench) -> None:
    seconds = 3.0 if bench.sizes.quick else 15.0
    figures: dict[str, str] = {}
    raw: dict[str, Any] = {}
    with bench.connect() as admin:
        for v, cls in VARIANTS:
            admin.execute(TABLE.format(v=v))
            motion_pg.execute(admin, f"CREATE MOTION TRIGGER a1_{v} ON a1_{v} USING "
                              f"'bench.async_models:{cls}' WITH (infer_mode = 'async')")  # fmt: skip
    worker = bench.spawn(WORKER)
    try:
        for v, _ in VARIANTS:  # warm up: the worker loads each trigger once
            _run_rate(bench, f"a1_{v}", 1, 1.0)
        for v, _ in VARIANTS:
            for rate in RATES:
                got = _run_rate(bench, f"a1_{v}", rate, seconds)
                raw[f"{v} {rate}/s"] = got
                figures[f"{v} {rate}/s"] = (
                    f"p50 {got['p50_s']:.2f} s, p95 {got['p95_s']:.2f} s "
                    f"(insert {got['insert_p50_ms']:.1f} ms)"
                )
    finally:
        bench.stop(worker)
    batch100 = raw["batch 100/s"]["p95_s"]
    bench.rows.append(Row(
        "A1", "async infer freshness (commit → outputs) of a 200 ms infer, 1 worker",
        figures, f"infer_batch at 100/s: p95 {batch100:.2f} s",
        "p95 < 1 s with infer_batch", None if bench.sizes.quick else batch100 < 1.0, raw,
        note="SlowRow: one 200 ms call per row on the worker's 32 infer threads",
    ))  # fmt: skip
