"""DESIGN.md §3 guarantees 1, 2, 3, 4, 5 and 8 on a real Postgres."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import MotionError
from motion_pg.worker import Worker

from .conftest import motion_pg_cli

ITEMS = (
    "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int, seen_version int)"
)


def create(conn: psycopg.Connection[Any], cls: str = "Counter", params: str = "") -> None:
    conn.execute(ITEMS)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.basic:{cls}' {params}",
    )


def state_count(conn: psycopg.Connection[Any]) -> int:
    import pickle

    row = conn.execute(
        "SELECT b.data FROM motion.triggers t JOIN motion.state_entries e"
        " ON e.trigger_name = t.name AND e.version = t.serving_version"
        " JOIN motion.blobs b ON b.id = e.blob_id WHERE t.name = 'counter' AND e.key = 'count'"
    ).fetchone()
    assert row is not None
    return int(pickle.loads(row[0]))


def serving_version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT serving_version FROM motion.triggers WHERE name = 'counter'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def drain(dsn: str) -> int:
    return Worker(dsn, poll_interval=0.05).run(once=True)


# -- 1. transactional infer ------------------------------------------------------------------------


def test_infer_writes_outputs_with_the_row(conn: psycopg.Connection[Any]) -> None:
    create(conn)
    rows = conn.execute(
        "INSERT INTO items (value) VALUES (3), (5) RETURNING doubled, seen_version"
    ).fetchall()
    assert rows == [(6, 1), (10, 1)]


def test_rollback_leaves_no_outputs_no_jobs(conn: psycopg.Connection[Any]) -> None:
    create(conn)
    with pytest.raises(psycopg.errors.RaiseException), conn.transaction():
        conn.execute("INSERT INTO items (value) VALUES (1)")
        assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (1,)
        conn.execute("DO $$ BEGIN RAISE EXCEPTION 'abort'; END $$")
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (0,)


def test_uncommitted_events_are_invisible_to_the_worker(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    create(conn)
    with psycopg.connect(dsn) as writer:  # an open transaction
        writer.execute("INSERT INTO items (value) VALUES (1)")
        assert drain(dsn) == 0
        writer.rollback()
    assert drain(dsn) == 0
    assert state_count(conn) == 0


# -- 2. consistent, read-only state ----------------------------------------------------------------


def test_state_is_read_only_in_infer(conn: psycopg.Connection[Any]) -> None:
    create(conn, "Mutator")
    with pytest.raises(psycopg.Error) as info:
        conn.execute("INSERT INTO items (value) VALUES (1)")
    message = str(info.value)
    assert 'motion trigger "counter"' in message and "TypeError" in message


def test_one_statement_sees_one_version(conn: psycopg.Connection[Any], dsn: str) -> None:
    create(conn, "SlowInfer", "WITH (sleep = 5.0)")
    conn.execute("INSERT INTO items (value) VALUES (0)")  # an event to fit

    def fit_meanwhile() -> None:
        with psycopg.connect(dsn, autocommit=True) as watch:
            while not watch.execute(  # the statement below sleeps in its first row
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'PgSleep'"
                " AND datname = current_database()"
            ).fetchone()[0]:  # type: ignore[index]
                time.sleep(0.02)
        drain(dsn)  # commits version 2 meanwhile (a worker starts, claims and fits well within 5 s)

    t = threading.Thread(target=fit_meanwhile)
    t.start()
    rows = conn.execute(
        "INSERT INTO items (value) SELECT g FROM generate_series(1, 5) g RETURNING seen_version"
    ).fetchall()
    t.join()
    assert serving_version(conn) == 2
    assert {r[0] for r in rows} == {1}
    after = conn.execute("INSERT INTO items (value) VALUES (7) RETURNING seen_version").fetchone()
    assert after == (2,)


# -- 3. fit after commit, effectively once; 4. order; 5. versions ---------------------------------


def test_fit_runs_after_commit_once_in_order(conn: psycopg.Connection[Any], dsn: str) -> None:
    create(conn)
    for _batch in range(3):
        conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 4) g")
    ids = [r[0] for r in conn.execute("SELECT id FROM items ORDER BY id")]
    assert state_count(conn) == 0  # fit never ran in the writer
    worker = Worker(dsn, poll_interval=0.05, fit_batch=5)
    assert worker.run(once=True) == 3  # 12 events in batches of at most 5
    assert state_count(conn) == 12
    assert drain(dsn) == 0  # nothing is fitted twice
    assert state_count(conn) == 12
    import pickle

    blob = conn.execute(
        "SELECT b.data FROM motion.state_entries e JOIN motion.blobs b ON b.id = e.blob_id"
        " WHERE e.trigger_name = 'counter' AND e.key = 'ids'"
        " AND e.version = (SELECT serving_version FROM motion.triggers)"
    ).fetchone()
    assert blob is not None and pickle.loads(blob[0]) == ids  # oldest first
    versions = conn.execute(
        "SELECT version, source, parent_version FROM motion.versions ORDER BY version"
    ).fetchall()
    assert versions == [(1, "setup", None), (2, "fit", 1), (3, "fit", 2), (4, "fit", 3)]
    states = conn.execute(
        "SELECT state, count(*) FROM motion.job_history GROUP BY state"
    ).fetchall()
    assert states == [("done", 12)]
    assert conn.execute(
        "INSERT INTO items (value) VALUES (1) RETURNING seen_version"
    ).fetchone() == (4,)


def test_unchanged_state_values_are_not_rewritten(conn: psycopg.Connection[Any], dsn: str) -> None:
    create(conn)
    conn.execute("INSERT INTO items (value) VALUES (1)")
    drain(dsn)
    factor_blobs = conn.execute(
        "SELECT DISTINCT blob_id FROM motion.state_entries WHERE key = 'factor'"
    ).fetchall()
    assert len(factor_blobs) == 1  # versions 1 and 2 share the value fit did not return


def test_failing_fit_leaves_state_and_records_the_error(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    create(conn, "FitFails", "WITH (max_attempts = 1)")
    conn.execute("INSERT INTO items (value) VALUES (1)")
    drain(dsn)
    assert serving_version(conn) == 1
    row = conn.execute("SELECT state, attempts, errors FROM motion.jobs").fetchone()
    assert row is not None
    state, attempts, errors = row
    assert (state, attempts) == ("dead", 1)
    assert "RuntimeError: fit exploded" in errors[0]["error"]
    # infer keeps serving the last good version
    assert conn.execute("INSERT INTO items (value) VALUES (2) RETURNING doubled").fetchone() == (4,)


def test_worker_cli_once(conn: psycopg.Connection[Any], dsn: str) -> None:
    create(conn)
    conn.execute("INSERT INTO items (value) VALUES (1), (2)")
    out = motion_pg_cli("worker", "--once", dsn=dsn)
    assert "1 fit run" in out.stdout
    assert state_count(conn) == 2


# -- 8. transactional DDL --------------------------------------------------------------------------


def _no_trace(conn: psycopg.Connection[Any]) -> None:
    assert conn.execute("SELECT count(*) FROM motion.triggers").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM motion.versions").fetchone() == (0,)
    assert conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'motion%'"
    ).fetchone() == (0,)


def test_rolled_back_create_leaves_nothing(conn: psycopg.Connection[Any]) -> None:
    conn.execute(ITEMS)
    conn.execute("BEGIN")
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.basic:Counter'"
    )
    conn.execute("ROLLBACK")
    _no_trace(conn)
    conn.execute("INSERT INTO items (value) VALUES (1)")
    assert conn.execute("SELECT doubled FROM items").fetchone() == (None,)


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (
            "CREATE MOTION TRIGGER t ON nope USING 'motion_test_apps.basic:Counter'",
            'relation "nope" does not exist',
        ),
        (
            "CREATE MOTION TRIGGER t ON items (nope) USING 'motion_test_apps.basic:Counter'",
            'column "nope"',
        ),
        (
            "CREATE MOTION TRIGGER t ON items USING 'motion_test_apps.nope:Counter'",
            "module 'motion_test_apps.nope' not found",
        ),
        (
            "CREATE MOTION TRIGGER t ON items USING 'motion_test_apps.basic:Nope'",
            "has no class 'Nope'",
        ),
        (
            "CREATE MOTION TRIGGER t ON items INFER guess USING 'motion_test_apps.basic:Counter'",
            "has no method 'guess'",
        ),
        (
            "CREATE MOTION TRIGGER t ON items USING 'motion_test_apps.basic:Counter' WITH (on_error = 'maybe')",
            "on_error",
        ),
    ],
)
def test_bad_create_names_the_problem_and_leaves_nothing(
    conn: psycopg.Connection[Any], statement: str, expected: str
) -> None:
    conn.execute(ITEMS)
    with pytest.raises(MotionError) as info:
        motion_pg.execute(conn, "CREATE TABLE side_effect (x int);\n" + statement)
    assert expected in str(info.value)
    _no_trace(conn)
    assert conn.execute("SELECT to_regclass('side_effect')").fetchone() == (None,)


def test_drop_removes_everything(conn: psycopg.Connection[Any]) -> None:
    create(conn)
    conn.execute("INSERT INTO items (value) VALUES (1)")
    assert motion_pg.execute(conn, "DROP MOTION TRIGGER counter") == ["DROP MOTION TRIGGER counter"]
    _no_trace(conn)
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (0,)
    with pytest.raises(MotionError, match='motion trigger "counter" does not exist'):
        motion_pg.execute(conn, "DROP MOTION TRIGGER counter")
    motion_pg.execute(conn, "DROP MOTION TRIGGER IF EXISTS counter")
