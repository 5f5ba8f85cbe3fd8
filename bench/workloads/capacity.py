"""Group C, the capacity model's figures (docs/capacity.md): ``python -m bench --only C``.

- C1 / C2: fit throughput, events/s drained by 1, 2, 4 and 8 worker processes, for a trivial fit
  (``bench.models:Noop``) and a scikit-learn fit (``SGDClassifier.partial_fit`` per fit call).
  Eight motion triggers share one table (one event per trigger per row): a trigger's fits are
  serial, so workers scale over triggers, and eight triggers let eight workers all work.
- C3: synchronous infer, rows/s in one backend: single-row autocommit INSERTs and one bulk
  ``INSERT … SELECT``, trivial and scikit-learn, next to the same table without a trigger.
- C4: async infer (the managed-mode path): freshness (commit → outputs written) at 100 rows/s and
  the rows/s one worker writes back, for a trivial ``infer_batch``.

Each row records the 1-minute load average (``/proc/loadavg``) before and after it: the figures
are only as good as the machine was quiet.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import motion_pg
from bench.harness import Bench, Row, median, percentile, wait_until
from bench.workloads.queue import _DRAINED, _count, _start_workers, _stop_all

WORKER = [str(Path(sys.executable).parent / "motion-pg"), "worker", "--infer-threads", "0"]
ASYNC_WORKER = [str(Path(sys.executable).parent / "motion-pg"), "worker"]
TRIGGERS = 8


def load() -> float:
    """The 1-minute load average."""
    with open("/proc/loadavg", encoding="utf-8") as f:
        return float(f.read().split()[0])


def _drain(bench: Bench, table: str, fill: str, rows: int, workers: int) -> float:
    """Events/s for ``workers`` workers draining ``rows`` * TRIGGERS events."""
    with bench.connect() as conn:
        conn.execute(f"TRUNCATE {table}, motion.jobs")
        procs = _start_workers(bench, WORKER, workers)
        start = time.perf_counter()
        conn.execute(fill.format(table=table, n=rows))
        wait_until(lambda: _count(conn, _DRAINED) == 0, 900, "the queue to drain", 0.05)
        elapsed = time.perf_counter() - start
        _stop_all(bench, procs)
    return rows * TRIGGERS / elapsed


def _fit_row(bench: Bench, cid: str, what: str, cls: str, columns: str, fill: str,
             rows: int) -> None:  # fmt: skip
    table = f"c_{cid.lower()}"
    before = load()
    with bench.connect() as conn:
        conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, {columns})")
        motion_pg.execute(conn, "; ".join(
            f"CREATE MOTION TRIGGER {table}_{i} ON {table} NO INFER USING '{cls}'"
            for i in range(TRIGGERS)))  # fmt: skip
    counts = (1, 2) if bench.sizes.quick else (1, 2, 4, 8)
    raw: dict[str, float] = {}
    for w in counts:
        raw[f"{w} worker{'s' if w > 1 else ''}"] = _drain(bench, table, fill, rows, w)
    after = load()
    one = raw["1 worker"]
    best = max(raw.values())
    bench.rows.append(Row(
        cid, f"{what}: events/s drained ({rows * TRIGGERS:,} events, {TRIGGERS} triggers, "
        "worker defaults)", {k: f"{v:,.0f} ev/s" for k, v in raw.items()},
        f"{one:,.0f} ev/s per worker alone; best {best:,.0f} ev/s", "", None,
        {**raw, "load_before": before, "load_after": after},
        note=f"load {before:.2f} → {after:.2f}",
    ))  # fmt: skip


def c1(bench: Bench) -> None:
    rows = 250 if bench.sizes.quick else 5000
    _fit_row(bench, "C1", "trivial fit", "bench.models:Noop", "x int",
             "INSERT INTO {table} (x) SELECT g FROM generate_series(1, {n}) g", rows)  # fmt: skip


def c2(bench: Bench) -> None:
    rows = 125 if bench.sizes.quick else 2500
    _fit_row(bench, "C2", "scikit-learn fit (SGDClassifier.partial_fit)",
             "bench.capacity_models:SkFit", "a float8, b float8, c float8, d float8",
             "INSERT INTO {table} (a, b, c, d) SELECT random(), random() - 0.5, random(),"
             " random() - 0.5 FROM generate_series(1, {n})", rows)  # fmt: skip


_C3 = {
    "none": ("x int, y int", None, "(x) VALUES (1)", "(x) SELECT g FROM generate_series(1, {n}) g"),
    "trivial": ("x int, y int", "bench.models:Trivial", "(x) VALUES (1)",
                "(x) SELECT g FROM generate_series(1, {n}) g"),
    "sklearn": ("a float8, b float8, c float8, d float8, label int", "bench.models:SklearnBatch",
                "(a, b, c, d) VALUES (0.1, -0.2, 0.3, -0.4)",
                "(a, b, c, d) SELECT random(), random(), random(), random() "
                "FROM generate_series(1, {n})"),
}  # fmt: skip


def c3(bench: Bench) -> None:
    single = 300 if bench.sizes.quick else 3000
    bulk = 2000 if bench.sizes.quick else 50_000
    before = load()
    raw: dict[str, float] = {}
    with bench.connect() as conn:
        for v, (columns, cls, one, many) in _C3.items():
            table = f"c3_{v}"
            conn.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, {columns})")
            if cls is not None:
                motion_pg.execute(conn, f"CREATE MOTION TRIGGER {table} ON {table} NO FIT "
                                  f"USING '{cls}' WITH (lineage = false)")  # fmt: skip
            conn.execute(f"INSERT INTO {table} {one}")  # warm: the backend loads the trigger
            t = time.perf_counter()
            for _ in range(single):
                conn.execute(f"INSERT INTO {table} {one}")
            raw[f"{v} single-row"] = single / (time.perf_counter() - t)
            t = time.perf_counter()
            conn.execute(f"INSERT INTO {table} {many.format(n=bulk)}")
            raw[f"{v} bulk"] = bulk / (time.perf_counter() - t)
    after = load()
    bench.rows.append(Row(
        "C3", f"sync infer rows/s in one backend ({single:,} autocommit single-row INSERTs; one "
        f"{bulk:,}-row INSERT … SELECT), no lineage",
        {k: f"{v:,.0f} rows/s" for k, v in raw.items()},
        f"trivial {raw['trivial single-row']:,.0f} / {raw['trivial bulk']:,.0f} rows/s", "", None,
        {**raw, "load_before": before, "load_after": after},
        note=f"load {before:.2f} → {after:.2f}",
    ))  # fmt: skip


def c4(bench: Bench) -> None:
    seconds = 3.0 if bench.sizes.quick else 15.0
    bulk = 2000 if bench.sizes.quick else 20_000
    rate = 100
    before = load()
    with bench.connect() as conn:
        conn.execute(
            "CREATE TABLE c4 (id bigserial PRIMARY KEY, x int NOT NULL, y int,"
            " created_at timestamptz NOT NULL DEFAULT clock_timestamp(), written_at timestamptz);"
            " CREATE FUNCTION c4_written() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF OLD.y IS NULL AND NEW.y IS NOT NULL THEN NEW.written_at := clock_timestamp();"
            " END IF; RETURN NEW; END $$;"
            " CREATE TRIGGER c4_written BEFORE UPDATE ON c4 FOR EACH ROW"
            " EXECUTE FUNCTION c4_written()"
        )
        motion_pg.execute(conn, "CREATE MOTION TRIGGER c4 ON c4 NO FIT USING "
                          "'bench.capacity_models:AsyncTrivial' WITH (infer_mode = 'async')")  # fmt: skip
    worker = bench.spawn(ASYNC_WORKER)
    raw: dict[str, float] = {}

    def done(conn: Any) -> bool:
        return _count(conn, "SELECT count(*) FROM c4 WHERE y IS NULL") == 0

    try:
        with bench.connect() as conn:
            conn.execute("INSERT INTO c4 (x) VALUES (0)")  # warm: the worker loads the trigger
            wait_until(lambda: done(conn), 120, "the first async output", 0.05)
            conn.execute("TRUNCATE c4")
            n = int(rate * seconds)
            started = time.perf_counter()
            for i in range(n):
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                conn.execute("INSERT INTO c4 (x) VALUES (%s)", [i])
            wait_until(lambda: done(conn), 120 + seconds, "async outputs", 0.05)
            fresh = [float(r[0]) for r in conn.execute(
                "SELECT extract(epoch FROM written_at - created_at) FROM c4").fetchall()]  # fmt: skip
            raw["p50_s"], raw["p95_s"] = median(fresh), percentile(fresh, 95)
            conn.execute("TRUNCATE c4")
            t = time.perf_counter()
            conn.execute("INSERT INTO c4 (x) SELECT g FROM generate_series(1, %s) g", [bulk])
            wait_until(lambda: done(conn), 600, "async outputs of the bulk insert", 0.05)
            raw["bulk_rows_per_s"] = bulk / (time.perf_counter() - t)
    finally:
        bench.stop(worker)
    after = load()
    bench.rows.append(Row(
        "C4", f"async infer (managed path), trivial infer_batch, 1 worker: freshness at {rate} "
        f"rows/s; write-back rows/s of a {bulk:,}-row INSERT",
        {"freshness": f"p50 {raw['p50_s'] * 1000:.0f} ms, p95 {raw['p95_s'] * 1000:.0f} ms",
         "drain": f"{raw['bulk_rows_per_s']:,.0f} rows/s"},
        f"p95 {raw['p95_s'] * 1000:.0f} ms; {raw['bulk_rows_per_s']:,.0f} rows/s", "", None,
        {**raw, "load_before": before, "load_after": after},
        note=f"load {before:.2f} → {after:.2f}",
    ))  # fmt: skip


def capacity(bench: Bench, only: set[str]) -> None:
    """The C rows ``only`` selects (all for ``C``)."""
    for cid, run in (("C1", c1), ("C2", c2), ("C3", c3), ("C4", c4)):
        if not only or "C" in only or cid in only:
            t = time.perf_counter()
            run(bench)
            print(f"[bench] {cid} done in {time.perf_counter() - t:.0f} s", file=sys.stderr)
