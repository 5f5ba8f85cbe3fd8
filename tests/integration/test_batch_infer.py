"""Batch infer (``infer_batch``) and ``motion.warm`` on a real Postgres."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.worker import Worker

ITEMS = (
    "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int,"
    " seen_version int, batch_size int)"
)


def create(conn: psycopg.Connection[Any], cls: str = "BatchCounter", params: str = "") -> None:
    conn.execute(ITEMS)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.batch:{cls}' {params}",
    )


def insert(conn: psycopg.Connection[Any], *values: int) -> None:
    conn.execute("INSERT INTO items (value) SELECT unnest(%s::int[])", [list(values)])


def rows(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT value, doubled, seen_version, batch_size FROM items ORDER BY id"
    ).fetchall()


def test_one_call_per_statement_writes_outputs(conn: psycopg.Connection[Any]) -> None:
    create(conn)
    insert(conn, *range(50))
    assert rows(conn) == [(v, 2 * v, 1, 50) for v in range(50)]
    pg_triggers = conn.execute(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'items'::regclass ORDER BY 1"
    ).fetchall()
    assert ("motion_counter_0_infer_batch",) in pg_triggers


def test_returning_sees_the_row_as_inserted(conn: psycopg.Connection[Any]) -> None:
    create(conn)
    got = conn.execute("INSERT INTO items (value) VALUES (4) RETURNING doubled").fetchone()
    assert got == (None,)  # documented: the write-back comes at the end of the statement
    assert rows(conn) == [(4, 8, 1, 1)]


def test_infer_mode_row_opts_out(conn: psycopg.Connection[Any]) -> None:
    create(conn, params="WITH (infer_mode = 'row')")
    got = conn.execute("INSERT INTO items (value) VALUES (4) RETURNING doubled").fetchone()
    assert got == (8,)
    insert(conn, 1, 2)
    assert [r[3] for r in rows(conn)] == [1, 1, 1]


def test_rollback_leaves_nothing(conn: psycopg.Connection[Any]) -> None:
    create(conn)
    with pytest.raises(RuntimeError), conn.transaction():
        insert(conn, 1, 2, 3)
        raise RuntimeError("roll back")
    assert rows(conn) == []
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (0,)


def test_fit_events_once_per_row_with_outputs(dsn: str, conn: psycopg.Connection[Any]) -> None:
    create(conn)
    # a second, fit-only motion trigger on the relation must not see the write-back as updates
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER watcher ON items NO INFER USING 'motion_test_apps.basic:Counter'",
    )
    insert(conn, 1, 2, 3)
    jobs = conn.execute(
        "SELECT trigger_name, op, row_data->>'doubled' FROM motion.jobs ORDER BY id"
    ).fetchall()
    assert [j for j in jobs if j[0] == "counter"] == [
        ("counter", "INSERT", "2"),
        ("counter", "INSERT", "4"),
        ("counter", "INSERT", "6"),
    ]
    assert [j[1] for j in jobs if j[0] == "watcher"] == ["INSERT"] * 3
    Worker(dsn, poll_interval=0.05).run(once=True)
    insert(conn, 10)
    assert rows(conn)[-1] == (10, 20, 2, 1)  # the next statement serves the fitted version


def test_update_is_inferred_row_by_row(conn: psycopg.Connection[Any]) -> None:
    create(conn)
    insert(conn, 1, 2)
    conn.execute("UPDATE items SET value = value + 1")
    assert rows(conn) == [(2, 4, 1, 1), (3, 6, 1, 1)]
    ops = conn.execute("SELECT op, count(*) FROM motion.jobs GROUP BY op ORDER BY op").fetchall()
    assert ops == [("INSERT", 2), ("UPDATE", 2)]


def test_update_uses_infer_when_the_class_has_both(conn: psycopg.Connection[Any]) -> None:
    create(conn, "BatchAndRow")
    insert(conn, 1, 2)
    conn.execute("UPDATE items SET value = 5 WHERE value = 1")
    assert rows(conn) == [(5, 50, 1, 0), (2, 4, 1, 2)]


def test_error_names_trigger_relation_rows_and_exception(conn: psycopg.Connection[Any]) -> None:
    create(conn, "BatchRaises")
    with pytest.raises(psycopg.Error) as info:
        insert(conn, 1, -2, 3)
    primary = info.value.diag.message_primary or ""
    assert 'motion trigger "counter" infer_batch failed on public.items rows' in primary
    assert "(id)=(1) … (id)=(3) (3 rows)" in primary
    assert "ValueError: cannot infer value -2" in primary
    assert "Traceback" in (info.value.diag.message_detail or "")
    assert rows(conn) == []


def test_wrong_output_names_the_row(conn: psycopg.Connection[Any]) -> None:
    create(conn, "BatchWrongType")
    with pytest.raises(psycopg.Error) as info:
        insert(conn, 1, 2, 3)
    assert "infer failed on public.items row (id)=(3)" in str(info.value)
    assert "column 'doubled' expects an integer" in str(info.value)


def test_wrong_length_fails_the_statement(conn: psycopg.Connection[Any]) -> None:
    create(conn, "BatchWrongLength")
    with pytest.raises(psycopg.Error, match=r"one dict per row \(2 rows, got 1 items\)"):
        insert(conn, 1, 2)


def test_on_error_skip_isolates_failing_rows(conn: psycopg.Connection[Any]) -> None:
    create(conn, "BatchRaises", "WITH (on_error = 'skip')")
    insert(conn, 1, -2, 3)
    assert rows(conn) == [(1, 2, 1, 1), (-2, None, None, None), (3, 6, 1, 1)]
    errors = conn.execute("SELECT row_key, error FROM motion.infer_errors").fetchall()
    assert len(errors) == 1 and errors[0][0] == {"id": 2} and "ValueError" in errors[0][1]
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (3,)


def test_infer_mode_batch_needs_a_primary_key(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE nokey (value int NOT NULL, doubled int, seen_version int)")
    with pytest.raises(motion_pg.MotionError, match="no primary key"):
        motion_pg.execute(
            conn,
            "CREATE MOTION TRIGGER counter ON nokey USING 'motion_test_apps.batch:BatchCounter'"
            " WITH (infer_mode = 'batch')",
        )


def test_warm_loads_the_trigger(conn: psycopg.Connection[Any]) -> None:
    create(conn)
    assert conn.execute("SELECT motion.warm('counter')").fetchone() == (1,)
    with pytest.raises(psycopg.Error, match='motion trigger "nope" does not exist'):
        conn.execute("SELECT motion.warm('nope')")
