"""Shadow records written set-based (issue 11 item 3, speed): one INSERT per statement and side,
never a record of a row that was rolled back, and the per-row path where no statement trigger
runs (rows written directly into a partition)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import motion_pg

APPS = "motion_test_apps.experiments"
ITEMS = (
    "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL CHECK (value < 1000),"
    " label text, score real)"
)


def create(conn: psycopg.Connection[Any], name: str, cls: str, tail: str = "") -> None:
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER {name} ON items {tail} USING '{APPS}:{cls}'")


@pytest.fixture
def shadowed(conn: psycopg.Connection[Any]) -> None:
    """``items`` served by ``a``, with ``b`` its shadow."""
    conn.execute(ITEMS)
    create(conn, "a", "Baseline")
    create(conn, "b", "Variant", "SHADOW OF a")


def commands(conn: psycopg.Connection[Any], trigger: str) -> list[int]:
    """The number of records each command wrote for ``trigger`` (rows of one INSERT share cmin)."""
    return [
        int(r[0])
        for r in conn.execute(
            "SELECT count(*) FROM motion.shadow_outputs WHERE trigger_name = %s"
            " GROUP BY cmin::text ORDER BY min(id)",
            [trigger],
        )
    ]


def keys(conn: psycopg.Connection[Any], trigger: str) -> list[int]:
    return [
        int(r[0])
        for r in conn.execute(
            "SELECT (row_key ->> 'id')::int FROM motion.shadow_outputs WHERE trigger_name = %s"
            " ORDER BY 1",
            [trigger],
        )
    ]


def test_one_insert_per_statement_and_side(conn: psycopg.Connection[Any], shadowed: None) -> None:
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 300) g")
    assert commands(conn, "b") == [300]  # one INSERT of the shadow's 300 records
    assert commands(conn, "a") == [300]  # and one of what the baseline served
    conn.execute("UPDATE items SET value = value + 1 WHERE id <= 10")
    assert commands(conn, "b") == [300, 10]
    # the records are right, row by row
    got = conn.execute(
        "SELECT (s.row_key ->> 'id')::int, s.outputs ->> 'label', i.value FROM motion.shadow_outputs s"
        " JOIN items i ON i.id = (s.row_key ->> 'id')::int WHERE s.trigger_name = 'b'"
        " AND s.id > (SELECT min(id) + 299 FROM motion.shadow_outputs WHERE trigger_name = 'b')"
        " ORDER BY 1"
    ).fetchall()
    assert got == [(i, "even" if v % 4 == 0 else "odd", v) for i, _, v in got] and len(got) == 10
    pg_triggers = {
        r[0] for r in conn.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE '%shadow%'")
    }
    assert pg_triggers == {
        "motion_a_0_shadow_begin", "motion_a_0_shadow_end",
        "motion_b_0_shadow_begin", "motion_b_0_shadow_end",
    }  # fmt: skip


def test_a_failed_statement_leaves_no_record(conn: psycopg.Connection[Any], shadowed: None) -> None:
    with conn.transaction():
        with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
            # rows 1..999 are inferred and buffered, then row 1000 fails the CHECK
            conn.execute(
                "INSERT INTO items (id, value) SELECT g, g FROM generate_series(1, 1000) g"
            )
        conn.execute("INSERT INTO items (id, value) VALUES (2001, 1), (2002, 2)")
    assert keys(conn, "b") == [2001, 2002]  # the failed statement's records were never written
    assert keys(conn, "a") == [2001, 2002]
    # and an uncaught failure: the next transaction starts clean as well
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("INSERT INTO items (id, value) VALUES (3001, 1), (3002, 5000)")
    conn.execute("INSERT INTO items (id, value) VALUES (3003, 3)")
    assert keys(conn, "b") == [2001, 2002, 3003]


def test_records_roll_back_with_the_statement_that_flushed_them(
    conn: psycopg.Connection[Any], shadowed: None
) -> None:
    with conn.transaction():
        conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 50) g")
        with pytest.raises(psycopg.errors.DivisionByZero), conn.transaction():
            conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 50) g")
            conn.execute("SELECT 1 / 0")
    assert keys(conn, "b") == list(range(1, 51))


def test_rows_written_into_a_partition_are_recorded_one_by_one(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute(
        "CREATE TABLE items (id int PRIMARY KEY, value int NOT NULL, label text, score real)"
        " PARTITION BY RANGE (id)"
    )
    conn.execute("CREATE TABLE items_low PARTITION OF items FOR VALUES FROM (0) TO (100)")
    conn.execute("CREATE TABLE items_high PARTITION OF items FOR VALUES FROM (100) TO (200)")
    create(conn, "a", "Baseline")
    create(conn, "b", "Variant", "SHADOW OF a")
    conn.execute("INSERT INTO items (id, value) VALUES (1, 1), (150, 2)")  # through the parent
    conn.execute("INSERT INTO items_low (id, value) VALUES (2, 3), (3, 4)")  # into a partition
    assert keys(conn, "b") == [1, 2, 3, 150]
    assert keys(conn, "a") == [1, 2, 3, 150]


def test_replacing_the_baseline_or_dropping_the_shadow_keeps_the_triggers_right(
    conn: psycopg.Connection[Any], shadowed: None
) -> None:
    motion_pg.execute(conn, f"CREATE OR REPLACE MOTION TRIGGER a ON items USING '{APPS}:Baseline'")
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 20) g")
    assert commands(conn, "a") == [20] and commands(conn, "b") == [20]
    motion_pg.execute(conn, "DROP MOTION TRIGGER b")
    names = {
        r[0] for r in conn.execute("SELECT tgname FROM pg_trigger WHERE tgname LIKE '%shadow%'")
    }
    assert names == {"motion_a_0_shadow_begin", "motion_a_0_shadow_end"}
    conn.execute("INSERT INTO items (value) VALUES (7)")  # a serves alone, records nothing
    assert commands(conn, "a") == [20]
    motion_pg.execute(conn, "DROP MOTION TRIGGER a")
    assert conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'motion%'"
    ).fetchone() == (0,)


def test_promote_keeps_one_insert_per_statement(
    conn: psycopg.Connection[Any], shadowed: None
) -> None:
    motion_pg.execute(conn, "ALTER MOTION TRIGGER b PROMOTE")
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 40) g")
    assert commands(conn, "a") == [40] and commands(conn, "b") == [40]
    assert conn.execute(
        "SELECT count(*) FROM motion.shadow_outputs WHERE trigger_name = 'a' AND served"
    ).fetchone() == (0,)
