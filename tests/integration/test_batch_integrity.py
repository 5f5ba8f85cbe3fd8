"""Batch mode (``infer_batch``) keeps rows and fit events intact: generated SQL immune to column
names, key columns never changed by the write-back."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import motion_pg


def test_columns_named_like_the_generated_aliases(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "CREATE TABLE items (id serial PRIMARY KEY, value int, n int, t text, u int, k0 int,"
        " v0 int)"
    )
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER alias ON items USING 'motion_test_apps.outputs:AliasColumns'",
    )
    conn.execute("INSERT INTO items (value, k0) SELECT v, v + 100 FROM generate_series(1, 3) v")
    assert conn.execute("SELECT id, value, n, t, u, k0, v0 FROM items ORDER BY id").fetchall() == [
        (v, v, v, f"t{v}", 2 * v, v + 100, 3 * v) for v in (1, 2, 3)
    ]
    events = [
        r[0]
        for r in conn.execute(
            "SELECT row_data FROM motion.jobs WHERE trigger_name = 'alias' AND op = 'INSERT'"
            " ORDER BY id"
        )
    ]
    assert events == [
        {"id": v, "value": v, "n": v, "t": f"t{v}", "u": 2 * v, "k0": v + 100, "v0": 3 * v}
        for v in (1, 2, 3)
    ]


def create_changes_key(conn: psycopg.Connection[Any], params: str = "") -> None:
    conn.execute("CREATE TABLE items (id int PRIMARY KEY, kind text NOT NULL, n int)")
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER keys ON items USING 'motion_test_apps.outputs:ChangesKey' {params}",
    )


def test_infer_batch_changing_the_key_is_refused(conn: psycopg.Connection[Any]) -> None:
    create_changes_key(conn)
    with pytest.raises(psycopg.Error) as info:
        conn.execute("INSERT INTO items (id, kind) VALUES (1, 'stay'), (2, 'move')")
    primary = info.value.diag.message_primary or ""
    assert 'motion trigger "keys" infer failed on public.items row (id)=(2)' in primary
    assert "infer_batch changed key column 'id' from 2 to 1002" in primary
    assert info.value.diag.sqlstate == "MP300"
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)


def test_skip_keeps_the_row_and_its_fit_event(conn: psycopg.Connection[Any]) -> None:
    create_changes_key(conn, "WITH (on_error = 'skip')")
    conn.execute("INSERT INTO items (id, kind) VALUES (1, 'stay'), (2, 'move')")
    assert conn.execute("SELECT id, n FROM items ORDER BY id").fetchall() == [(1, 2), (2, None)]
    events = conn.execute(
        "SELECT (row_data->>'id')::int FROM motion.jobs WHERE op = 'INSERT' ORDER BY id"
    ).fetchall()
    assert events == [(1,), (2,)]  # before: the moved row's event was silently dropped
    assert conn.execute("SELECT row_key FROM motion.infer_errors").fetchall() == [({"id": 2},)]


def test_write_back_failure_names_the_row(conn: psycopg.Connection[Any], dsn: str) -> None:
    """A CHECK constraint only the write-back meets: the error names the row, skip skips it."""
    conn.execute("CREATE TABLE items (id int PRIMARY KEY, kind text NOT NULL, n int CHECK (n < 5))")
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER keys ON items USING 'motion_test_apps.outputs:ChangesKey'"
    )
    with pytest.raises(psycopg.Error) as info:
        conn.execute("INSERT INTO items (id, kind) VALUES (1, 'stay'), (3, 'stay')")
    primary = info.value.diag.message_primary or ""
    assert 'motion trigger "keys" infer failed on public.items row (id)=(3)' in primary
    assert "writing 'n' failed" in primary and "items_n_check" in primary
    motion_pg.execute(conn, "ALTER MOTION TRIGGER keys SET (on_error = 'skip')")
    with psycopg.connect(dsn, autocommit=True) as fresh:  # loads the new setting
        fresh.execute("INSERT INTO items (id, kind) VALUES (1, 'stay'), (3, 'stay')")
    assert conn.execute("SELECT id, n FROM items ORDER BY id").fetchall() == [(1, 2), (3, None)]
    assert conn.execute("SELECT row_key FROM motion.infer_errors").fetchall() == [({"id": 3},)]
