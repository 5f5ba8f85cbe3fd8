"""Bulk folds and cheap fit calls (issue 15 goals 2 and 3): a fit call takes what is pending up to
its budget (events, bytes of event data, time), a trickle is still fitted at once, and the fit
process folds onto the state it just wrote only while that is the newest version."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

import motion_pg
from motion_pg.worker import Worker

from .conftest import state

APP = "motion_test_apps.fold:Batches"


def create(conn: psycopg.Connection[Any], name: str, settings: str = "") -> None:
    conn.execute(f"CREATE TABLE {name} (id serial PRIMARY KEY, pad text)")
    with_ = f" WITH ({settings})" if settings else ""
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER {name} ON {name} USING '{APP}'{with_}")


def batches(conn: psycopg.Connection[Any], name: str) -> list[list[int]]:
    return list(state(conn, name)["batches"])


def fitted_once_in_order(found: list[list[int]], count: int) -> None:
    flat = [i for batch in found for i in batch]
    assert flat == list(range(1, count + 1)), "every event fitted once, oldest first"


@contextmanager
def running_worker(dsn: str, **options: Any) -> Iterator[Worker]:
    """A worker running in a thread (one fit process for the whole block)."""
    worker = Worker(dsn, poll_interval=0.5, **options)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(60)


def wait_fitted(conn: psycopg.Connection[Any], count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while conn.execute(
        "SELECT count(*) FROM motion.jobs"
    ).fetchone() != (0,) or conn.execute(
        "SELECT count(*) FROM motion.job_log"
    ).fetchone() != (count,):  # fmt: skip
        assert time.monotonic() < deadline, "the events were not fitted in time"
        time.sleep(0.02)


def test_a_bulk_load_is_folded_in_few_calls(conn: psycopg.Connection[Any], dsn: str) -> None:
    create(conn, "bulk", "fit_batch_time = 1000")  # growth alone, however loaded the host
    conn.execute("INSERT INTO bulk (pad) SELECT 'x' FROM generate_series(1, 3000)")
    Worker(dsn, poll_interval=0.05).run(once=True)
    found = batches(conn, "bulk")
    fitted_once_in_order(found, 3000)
    # a probe of 100 events, then calls growing 8 times (a fixed 100 took 30 calls)
    assert [len(b) for b in found] == [100, 800, 2100]


def test_the_event_cap_is_respected(conn: psycopg.Connection[Any], dsn: str) -> None:
    create(conn, "capped", "fit_batch = 7, fit_batch_time = 1000")
    conn.execute("INSERT INTO capped (pad) SELECT 'x' FROM generate_series(1, 40)")
    Worker(dsn, poll_interval=0.05).run(once=True)
    found = batches(conn, "capped")
    fitted_once_in_order(found, 40)
    assert max(map(len, found)) == 7


def test_the_bytes_budget_is_respected(conn: psycopg.Connection[Any], dsn: str) -> None:
    # each event's row data is stored as ~1 kB (pg_column_size of the jsonb): 5 fit in 5,500 bytes
    create(conn, "sized", "fit_batch_bytes = 5500, fit_batch_time = 1000")
    conn.execute(
        "INSERT INTO sized (pad) SELECT repeat(md5(g::text), 32) FROM generate_series(1, 30) g"
    )
    sizes = conn.execute(
        "SELECT min(pg_column_size(row_data)), max(pg_column_size(row_data)) FROM motion.jobs"
    ).fetchone()
    assert sizes is not None and 1000 < sizes[0] <= sizes[1] < 1100, sizes
    Worker(dsn, poll_interval=0.05).run(once=True)
    found = batches(conn, "sized")
    fitted_once_in_order(found, 30)
    assert [len(b) for b in found] == [5] * 6


def test_an_event_larger_than_the_bytes_budget_is_fitted_alone(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    create(conn, "large", "fit_batch_bytes = 100")
    conn.execute(
        "INSERT INTO large (pad) SELECT repeat(md5(g::text), 32) FROM generate_series(1, 3) g"
    )
    Worker(dsn, poll_interval=0.05).run(once=True)
    assert batches(conn, "large") == [[1], [2], [3]]


def test_the_time_budget_shrinks_calls_of_a_slow_fit(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    # 10 ms per event and a 0.1 s budget: after the probe, calls of about 10 events
    create(conn, "slow", "fit_batch_time = 0.1, per_event = 0.01")
    conn.execute("INSERT INTO slow (pad) SELECT 'x' FROM generate_series(1, 160)")
    Worker(dsn, poll_interval=0.05).run(once=True)
    found = batches(conn, "slow")
    fitted_once_in_order(found, 160)
    assert len(found[0]) == 100
    assert all(1 <= len(b) <= 10 for b in found[1:]), [len(b) for b in found]


def test_a_trickle_is_fitted_at_once_one_event_a_call(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    create(conn, "trickle")
    with running_worker(dsn):
        latencies = []
        for i in range(1, 11):
            conn.execute("INSERT INTO trickle (pad) VALUES ('x')")
            started = time.monotonic()
            wait_fitted(conn, i)
            latencies.append(time.monotonic() - started)
            time.sleep(0.05)
    assert batches(conn, "trickle") == [[i] for i in range(1, 11)]
    # no call waits for a batch to fill (NOTIFY wakes the worker; a loaded CI host is slow)
    assert sorted(latencies)[5] < 1.0, latencies


def test_the_fit_process_folds_onto_a_version_written_by_others(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    create(conn, "mixed")
    with running_worker(dsn):
        conn.execute("INSERT INTO mixed (pad) VALUES ('a'), ('b')")
        wait_fitted(conn, 2)
        fitted = conn.execute(
            "SELECT serving_version FROM motion.triggers WHERE name = 'mixed'"
        ).fetchone()
        assert fitted is not None
        # a version the fit process did not write: its memory of the state must not be used
        motion_pg.execute(conn, "ALTER MOTION TRIGGER mixed ROLLBACK TO VERSION 1")
        conn.execute("INSERT INTO mixed (pad) VALUES ('c')")
        wait_fitted(conn, 3)
    assert batches(conn, "mixed") == [[3]]


def test_a_trigger_created_again_does_not_inherit_the_old_state(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    create(conn, "again")
    with running_worker(dsn):
        conn.execute("INSERT INTO again (pad) VALUES ('a'), ('b')")
        wait_fitted(conn, 2)
        motion_pg.execute(conn, "DROP MOTION TRIGGER again")
        conn.execute("DELETE FROM motion.jobs; DELETE FROM motion.job_log")
        motion_pg.execute(conn, f"CREATE MOTION TRIGGER again ON again USING '{APP}'")
        # version numbers start again at 1: the same numbers as the state the process wrote
        conn.execute("INSERT INTO again (pad) VALUES ('c')")
        wait_fitted(conn, 1)
    assert batches(conn, "again") == [[3]]
