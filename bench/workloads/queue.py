"""B5 (commit → fit start latency), B6 (draining the queue), B8 (claim time vs queue depth)."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

import motion_pg
from bench.harness import ROOT, Bench, Row, median, percentile, wait_until
from motion_pg.queries import query

MOTION_PG = [str(Path(sys.executable).parent / "motion-pg"), "worker"]
# the polling fallback alone: a worker listening on a channel nobody notifies
POLLING = [sys.executable, "-c", "import sys, motion_pg.worker.runner as r; r.CHANNEL = "
           "'bench_silence'; r.Worker(sys.argv[1], poll_interval=1.0).run()"]  # fmt: skip


def _count(conn: psycopg.Connection[Any], sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


_FIT_READY = (
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'motion-pg fit'"
    " AND state = 'idle' AND query <> ''"
)


def _start_workers(
    bench: Bench, argv: list[str], n: int, env: dict[str, str] | None = None
) -> list[Any]:
    with bench.connect() as conn:
        before = _count(conn, "SELECT count(*) FROM motion.workers")
        procs = [bench.spawn(argv, env) for _ in range(n)]
        wait_until(lambda: _count(conn, "SELECT count(*) FROM motion.workers") >= before + n,
                   60, "workers to register")  # fmt: skip
        # each worker's fit process starts with it, connects and warms its backend up (its last
        # statement then shows): a measure starts with workers ready, as a long-running one is
        wait_until(lambda: _count(conn, _FIT_READY) >= n, 60, "fit processes to be ready")
    return procs


def _stop_all(bench: Bench, procs: list[Any]) -> None:
    for p in procs:
        bench.stop(p)


def _fitted(log: Path, started: dict[int, float], committed: dict[int, float]) -> bool:
    for line in log.read_text().splitlines():
        i, t = line.split()
        started[int(i)] = float(t)
    return all(i in started for i in committed)


def _wait_fitted(log: Path, started: dict[int, float], committed: dict[int, float]) -> None:
    wait_until(lambda: _fitted(log, started, committed), 60, "fits to start")


def b5(bench: Bench) -> None:
    log = bench.root / "b5.log"
    log.touch()
    with bench.connect() as conn:
        conn.execute("CREATE TABLE b5 (id bigserial PRIMARY KEY, x int NOT NULL, y int)")
        motion_pg.execute(conn, "CREATE MOTION TRIGGER stamped ON b5 "
                          f"USING 'bench.models:Stamped' WITH (log = '{log}')")  # fmt: skip
    results: dict[str, list[float]] = {}
    for path, argv in (("NOTIFY", MOTION_PG), ("polling", [*POLLING, bench.dsn])):
        n = (
            bench.sizes.latency_events
            if path == "NOTIFY"
            else max(5, bench.sizes.latency_events // 4)
        )
        procs = _start_workers(bench, argv, 1)
        started: dict[int, float] = {}
        with bench.connect() as conn:
            for warm in (True, False):  # the first fit also starts the fit process: not measured
                committed: dict[int, float] = {}
                for _ in range(1 if warm else n):
                    row = conn.execute("INSERT INTO b5 (x) VALUES (1) RETURNING id").fetchone()
                    committed[int(row[0])] = time.time() if row else 0.0
                    time.sleep(0.1)  # 10 events/s
                _wait_fitted(log, started, committed)
        _stop_all(bench, procs)
        results[path] = [(started[i] - committed[i]) * 1000 for i in committed]
    notify, poll = results["NOTIFY"], results["polling"]
    p50, p99 = percentile(notify, 50), percentile(notify, 99)
    bench.rows.append(Row(
        "B5", "commit → fit start, 10 events/s (one new version per event)",
        {"NOTIFY p50/p99": f"{p50:.1f} / {p99:.1f} ms",
         "polling (1 s) p50/p99": f"{percentile(poll, 50):.0f} / {percentile(poll, 99):.0f} ms"},
        f"NOTIFY p50 {p50:.1f} ms, p99 {p99:.1f} ms", "p50 ≤ 10 ms, p99 ≤ 50 ms",
        None if bench.sizes.quick else (p50 <= 10 and p99 <= 50), results,
    ))  # fmt: skip


# whether any event is still pending or running (0 once drained): one probe of each partial
# index, not a count of every pending event, which at 100k pending cost ~20 ms a poll every 50 ms,
# CPU taken from the worker being measured
_DRAINED = (
    "SELECT (EXISTS (SELECT FROM motion.jobs WHERE state = 'pending')"
    " OR EXISTS (SELECT FROM motion.jobs WHERE state = 'running'))::int"
)


def _drain_motion(bench: Bench, conn: psycopg.Connection[Any], events: int,
                  fit_batch: int | None, workers: int, jit: bool = True) -> float:  # fmt: skip
    """Events per second; ``fit_batch`` None: the worker's budget (its defaults)."""
    conn.execute("TRUNCATE b6, motion.jobs")
    argv = [*MOTION_PG] if fit_batch is None else [*MOTION_PG, "--fit-batch", str(fit_batch)]
    env = None if jit else {"PGOPTIONS": "-c jit=off"}
    procs = _start_workers(bench, argv, workers, env)
    start = time.perf_counter()
    conn.execute("INSERT INTO b6 (x) SELECT g FROM generate_series(1, %s) g", [events // 2])
    wait_until(lambda: _count(conn, _DRAINED) == 0, 600, "the queue to drain", 0.05)
    elapsed = time.perf_counter() - start
    _stop_all(bench, procs)
    return events / elapsed


def _drain_procrastinate(bench: Bench, conn: psycopg.Connection[Any], events: int,
                         workers: int) -> float:  # fmt: skip
    from bench.procrastinate_app import app, noop

    conn.execute("TRUNCATE procrastinate_jobs CASCADE")
    argv = [str(Path(sys.executable).parent / "procrastinate"), "--app",
            "bench.procrastinate_app.app", "worker", "--concurrency", "1"]  # fmt: skip
    procs = [bench.spawn(argv, stdout=-3, stderr=-3) for _ in range(workers)]
    time.sleep(2.0)  # procrastinate workers have no registry to wait on
    start = time.perf_counter()
    with app.open():
        noop.batch_defer(*({"i": i} for i in range(events)))
    done = "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
    wait_until(lambda: _count(conn, done) == 0, 600, "procrastinate to drain", 0.05)
    elapsed = time.perf_counter() - start
    _stop_all(bench, procs)
    return events / elapsed


def b6(bench: Bench) -> None:
    os.environ["MOTION_DSN"] = bench.dsn
    small, large = bench.sizes.drain_small, bench.sizes.drain_large
    runs = 1 if bench.sizes.quick else 2
    peer = importlib.util.find_spec("procrastinate") is not None  # the `bench` extra
    with bench.connect() as conn:
        conn.execute("CREATE TABLE b6 (id bigserial PRIMARY KEY, x int)")
        motion_pg.execute(conn, "CREATE MOTION TRIGGER noop_a ON b6 NO INFER "
                          "USING 'bench.models:Noop'; CREATE MOTION TRIGGER noop_b ON b6 NO INFER "
                          "USING 'bench.models:Noop'")  # fmt: skip
        import subprocess

        if peer:
            subprocess.run([str(Path(sys.executable).parent / "procrastinate"), "--app",
                        "bench.procrastinate_app.app", "schema", "--apply"], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True)  # fmt: skip
        raw: dict[str, list[float]] = {}
        for workers in (1,) if bench.sizes.quick else (1, 2):
            for _ in range(runs):
                raw.setdefault(f"fit_batch=1 x{workers}", []).append(
                    _drain_motion(bench, conn, small, 1, workers)
                )
                raw.setdefault(f"budget x{workers}", []).append(
                    _drain_motion(bench, conn, large, None, workers)
                )
                if peer:
                    raw.setdefault(f"procrastinate x{workers}", []).append(
                        _drain_procrastinate(bench, conn, small, workers)
                    )
    m = {k: median(v) for k, v in raw.items()}
    counts = (1,) if bench.sizes.quick else (1, 2)
    r = min(m[f"fit_batch=1 x{w}"] / m.get(f"procrastinate x{w}", float("nan")) for w in counts)
    big = max(m[f"budget x{w}"] for w in counts)
    bench.rows.append(Row(
        "B6", f"drain queued events (2 triggers; {small:,} per-event, {large:,} batched by the "
        "worker's budget), trivial fit, 1 and 2 workers",
        {k: _spread(raw[k], "ev/s", 0) for k in m},
        f"fit_batch=1 / procrastinate ≥ {r:.1f}; budget {big:,.0f} ev/s",
        "≥ 3; ≥ 20k ev/s", None if bench.sizes.quick else (r >= 3 and big >= 20_000), raw,
        "" if peer else "procrastinate is not installed (pip install -e '.[bench]'): no baseline",
    ))  # fmt: skip


_CLAIMED = "b8_claimed"  # B8's own trigger: B8 runs alone too (--only B8)
_ENQUEUE = (
    "INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data) "
    f"SELECT '{_CLAIMED}', 0, 'public.b8q', 'INSERT', jsonb_build_object('id', g, 'x', g) "
    "FROM generate_series(1, %s) g"
)


def _spread(values: list[float], unit: str, digits: int = 2) -> str:
    """``median (min-max) unit``."""
    return f"{median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f}) {unit}"


def _claims(conn: psycopg.Connection[Any], samples: int) -> tuple[list[float], float]:
    """Execution times (ms) of ``samples`` claims of 100 events, and their median buffers."""
    times, buffers = [], []
    statement = "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) " + _claim_text(conn)
    for _ in range(samples):
        with conn.transaction(force_rollback=True):
            row = (
                psycopg.RawCursor(conn)
                .execute(statement, ["bench", 30.0, 100, [], "{}", 100, 1 << 30])
                .fetchone()
            )
            assert row is not None
            plan = row[0][0]
            assert plan["Plan"]["Actual Rows"] == 100, "the claim took no events: nothing pending?"
            times.append(float(plan["Execution Time"]))
            buffers.append(plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"])
    return times, median(buffers)


def _claim_text(conn: psycopg.Connection[Any]) -> str:
    """The plain claim's statement: the body of the function ``claim_jobs`` calls (EXPLAIN then
    shows its plan rather than a function scan)."""
    row = (
        psycopg.RawCursor(conn)
        .execute(
            query("function_body"),
            ["motion._claim_plain(text, float8, integer, text[], jsonb, integer, bigint)"],
        )
        .fetchone()
    )
    assert row is not None
    return str(row[0])


def _setup_b8(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS b8q (id bigserial PRIMARY KEY, x int)")
    if not conn.execute("SELECT 1 FROM motion.triggers WHERE name = %s", [_CLAIMED]).fetchone():
        motion_pg.execute(conn, f"CREATE MOTION TRIGGER {_CLAIMED} ON b8q NO INFER "
                          "USING 'bench.models:Noop'")  # fmt: skip


def _drained_statistics(conn: psycopg.Connection[Any]) -> None:
    """What autovacuum leaves after a drain: motion.jobs analyzed while every row was done, then
    pruned and vacuumed empty. The queue's statistics then say nothing is pending."""
    conn.execute("UPDATE motion.jobs SET state = 'done', finished_at = now()")
    conn.execute("ANALYZE motion.jobs")
    conn.execute("DELETE FROM motion.jobs")
    conn.execute("VACUUM ANALYZE motion.jobs")


def b8_claim(bench: Bench) -> None:
    """B8b: the claim at 1k and at a deep queue, with fresh statistics and with the stale ones
    of a drained queue; then B8c, the 100k bulk drain in both states."""
    deep = bench.sizes.queue_deep
    samples = {"1k": 50, "deep": 20}
    times: dict[str, list[float]] = {}
    buffers: dict[str, float] = {}
    with bench.connect() as conn:
        _setup_b8(conn)
        conn.execute("SET jit = off")  # as the worker's connection runs the claim
        conn.execute("TRUNCATE motion.jobs")
        conn.execute(_ENQUEUE, [1000])
        conn.execute("VACUUM ANALYZE motion.jobs")
        times["1k fresh"], buffers["1k fresh"] = _claims(conn, samples["1k"])
        _drained_statistics(conn)
        # keep the stale statistics for the measurement: autovacuum would refresh them any time
        conn.execute("ALTER TABLE motion.jobs SET (autovacuum_enabled = false)")
        try:
            conn.execute(_ENQUEUE, [1000])
            times["1k stale"], buffers["1k stale"] = _claims(conn, samples["1k"])
            conn.execute(_ENQUEUE, [deep - 1000])
            times["deep stale"], buffers["deep stale"] = _claims(conn, samples["deep"])
        finally:
            conn.execute("ALTER TABLE motion.jobs RESET (autovacuum_enabled)")
        conn.execute("VACUUM ANALYZE motion.jobs")
        times["deep fresh"], buffers["deep fresh"] = _claims(conn, samples["deep"])
        if median(times["deep stale"]) > 2 * median(times["deep fresh"]):  # say why
            _print_plan(conn, "the claim at depth, stale statistics, after ANALYZE")
        conn.execute("SET jit = on")  # what a session with the server's default would pay
        times["deep JIT"], _ = _claims(conn, samples["deep"])
        conn.execute("TRUNCATE motion.jobs")
    m = {k: median(v) for k, v in times.items()}
    flat, stable = m["deep fresh"] / m["1k fresh"], m["deep stale"] / m["deep fresh"]
    label = {"1k fresh": "1k", "1k stale": "1k, stale statistics", "deep fresh": f"{deep:,}",
             "deep stale": f"{deep:,}, stale statistics",
             "deep JIT": f"{deep:,} with JIT (not the worker's setting)"}  # fmt: skip
    bench.rows.append(Row(
        "B8b", f"claim (100 events, EXPLAIN ANALYZE, jit off) with 1k vs {deep:,} pending jobs; "
        "fresh statistics vs those of a drained queue (analyzed all done, pruned, vacuumed)",
        {label[k]: _spread(times[k], "ms") + (f", {buffers[k]:,.0f} buffers" if k in buffers else "")
         for k in label},
        f"deep / shallow = {flat:.2f}; stale / fresh at {deep:,} = {stable:.2f}",
        "flat (0.8-1.2); same (0.8-1.2)",
        None if bench.sizes.quick else (0.8 <= flat <= 1.2 and 0.8 <= stable <= 1.2),
        {"ms": times, "buffers": buffers},
    ))  # fmt: skip
    b8_drain(bench)


def _print_plan(conn: psycopg.Connection[Any], what: str) -> None:
    with conn.transaction(force_rollback=True):
        plan = psycopg.RawCursor(conn).execute(
            "EXPLAIN (ANALYZE, BUFFERS) " + _claim_text(conn),
            ["bench", 30.0, 100, [], "{}", 100, 1 << 30],
        )
        lines = [r[0] for r in plan.fetchall()]
    print(f"[bench] {what}:\n" + "\n".join(lines), file=sys.stderr)


def _trickle(conn: psycopg.Connection[Any], n: int) -> None:
    """``n`` events one at a time, each folded before the next (a worker is running)."""
    for i in range(n):
        conn.execute("INSERT INTO b8q (x) VALUES (%s)", [i])
        wait_until(lambda: _count(conn, _DRAINED) == 0, 60, "a trickle event to fold", 0.005)


def _bulk_drain(bench: Bench, conn: psycopg.Connection[Any], events: int, state: str) -> float:
    """Seconds from the commit of ``events`` events to a drained queue, one worker, trivial fit.
    ``state``: the statistics of a drained queue (``stale``) or fresh ones, for a worker started
    with the load; ``warm``: a worker that served a trickle on the drained queue first, so its
    claim and its fit process's commit keep plans made for an empty motion.jobs (issue 15's P4
    outlier: a cached plan follows the table's size only once autovacuum analyzes it again)."""
    conn.execute("TRUNCATE b8q, motion.jobs")
    conn.execute(_ENQUEUE, [1000])
    _drained_statistics(conn)
    procs = _start_workers(bench, MOTION_PG, 1)
    if state == "warm":
        _trickle(conn, 10)  # more than five calls: the statements are prepared, plans generic
        conn.execute("VACUUM ANALYZE motion.jobs")  # autovacuum after the drain: replanned...
        _trickle(conn, 3)  # ...on the empty queue
    with conn.transaction():
        conn.execute("INSERT INTO b8q (x) SELECT g FROM generate_series(1, %s) g", [events])
        if state == "fresh":  # ANALYZE sees this transaction's rows: fresh statistics at the commit
            conn.execute("ANALYZE motion.jobs")
    start = time.perf_counter()
    wait_until(lambda: _count(conn, _DRAINED) == 0, 900, "the queue to drain", 0.05)
    elapsed = time.perf_counter() - start
    _stop_all(bench, procs)
    return elapsed


_B8C_LABEL = {"fresh": "fresh statistics", "stale": "stale statistics",
              "warm": "stale statistics, warm worker"}  # fmt: skip


def b8_drain(bench: Bench) -> None:
    """B8c: 100k bulk events folded by one worker with a trivial fit, with the statistics of a
    drained queue, with fresh ones, and by a worker that served a trickle on the drained queue
    first (alternated, so drift hits all alike)."""
    events = 2_000 if bench.sizes.quick else 100_000
    runs = 1 if bench.sizes.quick else 3
    raw: dict[str, list[float]] = {"fresh": [], "stale": [], "warm": []}
    with bench.connect() as conn:
        _setup_b8(conn)
        for _ in range(runs):
            for state in ("stale", "fresh", "warm"):
                raw[state].append(_bulk_drain(bench, conn, events, state))
        conn.execute("TRUNCATE b8q, motion.jobs")
    m = {k: median(v) for k, v in raw.items()}
    ratio = max(m["stale"], m["warm"]) / m["fresh"]
    worst = max(m.values())
    bench.rows.append(Row(
        "B8c", f"drain {events:,} committed events, 1 worker, trivial fit (the worker's budget): "
        "statistics of a drained queue vs fresh ones, and a worker that polled the drained queue",
        {_B8C_LABEL[k]: _spread(v, "s") + f" = {events / m[k]:,.0f} ev/s"
         for k, v in raw.items()},
        f"slower stale / fresh = {ratio:.2f}; slower median {worst:.2f} s", "same (≤ 1.2); ≤ 2 s",
        None if bench.sizes.quick else ratio <= 1.2 and worst <= 2.0, raw,
    ))  # fmt: skip
