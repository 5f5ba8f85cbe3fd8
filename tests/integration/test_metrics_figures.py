"""Metrics of drift, backfill progress and lineage coverage, and batch-mode infer latency, scraped
over HTTP from the metrics endpoint and checked against known work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.metrics import serve
from motion_pg.worker import Worker

from .test_drift import READINGS, normal, shifted
from .test_metrics import Samples, insert_one_per_statement, scrape

ITEMS = "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int)"


@pytest.fixture
def endpoint(dsn: str) -> Iterator[int]:
    """``motion-pg metrics``' server in this process; yields its port."""
    server, collector = serve(dsn, 0)
    yield int(server.server_port)
    server.shutdown()
    collector.close()


def at(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_batch_mode_infer_latency_is_sampled_per_statement(
    conn: psycopg.Connection[Any], dsn: str, endpoint: int
) -> None:
    conn.execute(ITEMS)
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER slow ON items USING 'motion_test_apps.obs:SlowBatch' "
        "WITH (sleep = 0.02)",
    )
    # 11 statements of 4 rows, one backend: statements 1 and 11 are sampled, 4 rows each
    with psycopg.connect(dsn, autocommit=True) as c:
        for i in range(11):
            c.execute("INSERT INTO items (value) SELECT g FROM generate_series(%s::int, %s::int) g",
                      [4 * i, 4 * i + 3])  # fmt: skip
        c.execute("SELECT motion.flush_infer_latency()")
    assert conn.execute("SELECT count(*) FROM items WHERE doubled = value * 2").fetchone() == (44,)
    samples = scrape(endpoint)
    assert at(samples, "motion_infer_latency_seconds_count", trigger="slow") == 8
    total = at(samples, "motion_infer_latency_seconds_sum", trigger="slow")
    assert 0.04 <= total < 1.0  # two calls of at least 20 ms
    # each row counts the call's seconds over its 4 rows: >= 5 ms, so none in the 5 ms bucket
    assert at(samples, "motion_infer_latency_seconds_bucket", trigger="slow", le="0.0025") == 0
    assert at(samples, "motion_infer_latency_seconds_bucket", trigger="slow", le="+Inf") == 8


def test_row_mode_latency_is_unchanged(
    conn: psycopg.Connection[Any], dsn: str, endpoint: int
) -> None:
    conn.execute(ITEMS)
    motion_pg.execute(conn, "CREATE MOTION TRIGGER d ON items USING 'motion_test_apps.obs:Doubler'")
    insert_one_per_statement(dsn, list(range(11)))  # statements 1 and 11 sampled, one row each
    samples = scrape(endpoint)
    assert at(samples, "motion_infer_latency_seconds_count", trigger="d") == 2


def test_backfill_progress_and_lineage_coverage(
    conn: psycopg.Connection[Any], dsn: str, endpoint: int
) -> None:
    conn.execute(ITEMS)
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 100) g")
    motion_pg.execute(conn, "CREATE MOTION TRIGGER d ON items USING 'motion_test_apps.obs:Doubler'")
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 50) g")
    labels = {"trigger": "d", "relation": "public.items", "column": "d_lineage"}
    samples = scrape(endpoint)  # coverage is computed at the first scrape
    # 50 of 150 rows were inferred (and stamped): the 100 before CREATE were not
    assert at(samples, "motion_lineage_rows", **labels) == 150
    assert at(samples, "motion_lineage_rows_stamped", **labels) == 50
    assert at(samples, "motion_lineage_coverage_ratio", **labels) == pytest.approx(1 / 3)
    assert at(samples, "motion_lineage_coverage_sampled", **labels) == 0
    assert not any(name.startswith("motion_backfill_") for name, _ in samples)

    [line] = motion_pg.execute(conn, "ALTER MOTION TRIGGER d BACKFILL STALE")
    assert line == "ALTER MOTION TRIGGER d BACKFILL (run 1: 100 rows inferred)"
    samples = scrape(endpoint)
    run = {"trigger": "d", "run": "1"}
    assert at(samples, "motion_backfill_rows", **run) == 100  # STALE: the unstamped rows
    assert at(samples, "motion_backfill_rows_visited", **run) == 100
    assert at(samples, "motion_backfill_rows_inferred", **run) == 100
    assert at(samples, "motion_backfill_running", **run) == 0
    # coverage is cached between computations (at most once a minute): still the first figure
    assert at(samples, "motion_lineage_rows_stamped", **labels) == 50
    found = conn.execute("SELECT rows_total, rows_stamped, coverage, sampled"
                         " FROM motion.lineage_coverage()").fetchone()  # fmt: skip
    assert found == (150, 150, 1.0, False)


def test_lineage_coverage_samples_a_large_relation(conn: psycopg.Connection[Any]) -> None:
    conn.execute(ITEMS)
    motion_pg.execute(conn, "CREATE MOTION TRIGGER d ON items USING 'motion_test_apps.obs:Doubler'")
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 20000) g")
    conn.execute("ANALYZE items")
    pages = conn.execute("SELECT relpages FROM pg_class WHERE oid = 'items'::regclass").fetchone()
    assert pages is not None and pages[0] > 20
    row = conn.execute(
        "SELECT rows_total, rows_stamped, coverage, sampled FROM motion.lineage_coverage(10)"
    ).fetchone()
    assert row is not None
    total, stamped, coverage, sampled = row
    assert sampled is True and coverage == 1.0 and total == stamped, row
    assert 5000 < total < 80000  # scaled from about 10 pages


def test_drift_figures(conn: psycopg.Connection[Any], dsn: str, endpoint: int) -> None:
    conn.execute(READINGS)
    normal(conn, 300)
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER m ON readings (value, label) USING 'motion_test_apps.policies:Mean'"
        " WITH (on_drift = 'alert', drift_window = 100)",
    )
    shifted(conn, 100)
    figures: dict[str, tuple[Any, ...]] = {}
    for _ in range(3):  # a worker checks drift when it starts, before or after it fits
        Worker(dsn, poll_interval=0.05).run(once=True)
        figures = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT column_name, statistic, value, threshold, drifted"
                " FROM motion.drift_figures WHERE trigger_name = 'm'"
            ).fetchall()
        }
        if figures.get("value", (None,) * 4)[3]:
            break
    assert figures["value"][3] is True, figures  # the known work: a shifted stream drifted
    samples = scrape(endpoint)
    for column, (statistic, value, threshold, drifted) in figures.items():
        labels = {"trigger": "m", "relation": "public.readings", "column": column}
        if value is not None:
            assert at(samples, "motion_drift_statistic", statistic=statistic, **labels) == value
        assert at(samples, "motion_drift_threshold", statistic=statistic, **labels) == threshold
        assert at(samples, "motion_drift_column_drifted", **labels) == float(drifted)
    assert at(samples, "motion_drift_statistic", trigger="m", relation="public.readings", column="value",
              statistic="ks_p_value") < 0.05  # fmt: skip
    assert at(samples, "motion_drift_drifted", trigger="m") == 1
    assert 0 < at(samples, "motion_drift_share", trigger="m") <= 1
