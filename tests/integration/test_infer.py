"""The infer path: outputs, pgvector columns, and every way user code can go wrong."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import motion_pg

ITEMS = (
    "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int, seen_version int)"
)


def create(conn: psycopg.Connection[Any], cls: str, params: str = "") -> None:
    conn.execute(ITEMS)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.basic:{cls}' {params}",
    )


def insert_error(conn: psycopg.Connection[Any]) -> psycopg.Error:
    with pytest.raises(psycopg.Error) as info:
        conn.execute("INSERT INTO items (value) VALUES (7)")
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)
    return info.value


def test_exception_names_trigger_relation_key_and_exception(conn: psycopg.Connection[Any]) -> None:
    create(conn, "Raises")
    e = insert_error(conn)
    primary = e.diag.message_primary or ""
    assert 'motion trigger "counter" infer failed on public.items row (id)=(1)' in primary
    assert "ValueError: cannot infer value 7" in primary
    assert "Traceback" in (e.diag.message_detail or "")


def test_unknown_output_column(conn: psycopg.Connection[Any]) -> None:
    create(conn, "WrongColumn")
    e = insert_error(conn)
    assert "'no_such_column', which public.items does not have" in str(e)


def test_wrong_output_type(conn: psycopg.Connection[Any]) -> None:
    create(conn, "WrongType")
    e = insert_error(conn)
    assert "column 'doubled' expects an integer; infer returned str 'not a number'" in str(e)


def test_on_error_skip_stores_the_row_and_records_the_error(conn: psycopg.Connection[Any]) -> None:
    create(conn, "Raises", "WITH (on_error = 'skip')")
    conn.execute("INSERT INTO items (value) VALUES (7)")
    assert conn.execute("SELECT value, doubled FROM items").fetchone() == (7, None)
    row = conn.execute("SELECT trigger_name, row_key, error FROM motion.infer_errors").fetchone()
    assert row is not None
    assert row[0] == "counter" and row[1] == {"id": 1} and "ValueError" in row[2]


def test_vector_column_from_numpy(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int, embedding vector(3))")
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER emb ON items USING 'motion_test_apps.basic:Embedder'"
    )
    row = conn.execute("INSERT INTO items (value) VALUES (1) RETURNING embedding::text").fetchone()
    assert row == ("[1,2,3]",)
    nearest = conn.execute(
        "SELECT value FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 1"
    ).fetchone()
    assert nearest == (1,)


def test_vector_dimension_mismatch_is_clear(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int, embedding vector(4))")
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER emb ON items USING 'motion_test_apps.basic:Embedder'"
    )
    with pytest.raises(psycopg.Error, match="expects 4 dimensions, got 3"):
        conn.execute("INSERT INTO items (value) VALUES (1)")


def test_route_on_columns_fires_on_insert_and_on_changed_update(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, label text, note text)")
    conn.execute("INSERT INTO items (label) VALUES ('before')")
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER labels ON items (label) NO INFER FIT learn"
        " USING 'motion_test_apps.basic:FitOnly'",
    )
    conn.execute("INSERT INTO items (label) VALUES ('a')")
    conn.execute("UPDATE items SET note = 'x'")  # label unchanged: no event
    conn.execute("UPDATE items SET label = 'a' WHERE id = 2")  # same value: no event
    conn.execute("UPDATE items SET label = 'b' WHERE id = 2")
    labels = [r[0]["label"] for r in conn.execute("SELECT row_data FROM motion.jobs ORDER BY id")]
    assert labels == ["a", "b"]


def test_setup_reads_existing_data(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, label text)")
    conn.execute("INSERT INTO items (label) VALUES ('x'), ('y')")
    out = motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER labels ON items NO INFER FIT learn USING 'motion_test_apps.basic:FitOnly'",
    )
    assert out == ["CREATE MOTION TRIGGER labels (version 1)"]
    assert conn.execute("SELECT state_bytes > 0 FROM motion.versions").fetchone() == (True,)


def test_what_infer_does_to_its_row_argument_never_reaches_the_row(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute(ITEMS)
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.rowarg:Scribbles'"
    )
    conn.execute("INSERT INTO items (value, seen_version) VALUES (7, 3), (0, 4)")
    rows = conn.execute("SELECT id, value, doubled, seen_version FROM items ORDER BY id").fetchall()
    assert rows == [(1, 7, 14, 3), (2, 0, None, 4)]
    conn.execute("UPDATE items SET value = value + 1")  # row 2 now doubles, row 1 too
    rows = conn.execute("SELECT id, value, doubled, seen_version FROM items ORDER BY id").fetchall()
    assert rows == [(1, 8, 16, 3), (2, 1, 2, 4)]
    conn.execute("UPDATE items SET value = 0, seen_version = 5 WHERE id = 1")  # infer: None
    row = conn.execute("SELECT value, doubled, seen_version FROM items WHERE id = 1").fetchone()
    assert row == (0, 16, 5)
    stamps = conn.execute("SELECT count(counter_lineage) FROM items").fetchone()
    assert stamps == (2,)
