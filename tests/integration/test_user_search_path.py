"""User code's SQL (ctx.db in infer) runs under the trigger's recorded search_path, pg_temp last,
while motion's own SQL keeps its pinned path."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import motion_pg

CLASSES = {"row": "Lookup", "batch": "LookupBatch"}


@pytest.mark.parametrize("schema", ["public", "app"])
@pytest.mark.parametrize("mode", CLASSES)
def test_infer_sees_the_recorded_search_path_and_no_temp_table(
    conn: psycopg.Connection[Any], dsn: str, schema: str, mode: str
) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.execute(f"CREATE TABLE {schema}.lookup (id int PRIMARY KEY, label text)")
    conn.execute(f"INSERT INTO {schema}.lookup VALUES (1, 'from {schema}')")
    conn.execute(
        "CREATE TABLE items (id serial PRIMARY KEY, value int, label text, seen_path text)"
    )
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER lk ON items USING 'motion_test_apps.outputs:{CLASSES[mode]}'",
    )
    # what CREATE records (the creator's schemas); set here so the test does not depend on it
    path = [schema] if schema == "public" else [schema, "public"]
    conn.execute("UPDATE motion.triggers SET search_path = %s WHERE name = 'lk'", [path])
    with psycopg.connect(dsn, autocommit=True) as writer:
        writer.execute("CREATE TEMP TABLE lookup (id int, label text)")
        writer.execute("INSERT INTO lookup VALUES (1, 'from a temp table')")
        before = writer.execute("SHOW search_path").fetchone()
        writer.execute("INSERT INTO items (value) VALUES (1), (2)")
        assert writer.execute("SHOW search_path").fetchone() == before
    expected_path = ", ".join(f'"{s}"' for s in path) + ", pg_temp"
    assert conn.execute("SELECT value, label, seen_path FROM items ORDER BY id").fetchall() == [
        (1, f"from {schema}", expected_path),
        (2, None, expected_path),
    ]


def test_no_recorded_path_leaves_the_pinned_one(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "CREATE TABLE items (id serial PRIMARY KEY, value int, label text, seen_path text)"
    )
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER lk ON items USING 'motion_test_apps.outputs:Lookup'"
    )
    conn.execute("UPDATE motion.triggers SET search_path = NULL WHERE name = 'lk'")
    conn.execute("CREATE TABLE pg_temp.lookup (id int, label text)")
    conn.execute("INSERT INTO items (value) VALUES (1)")
    assert conn.execute("SELECT seen_path FROM items").fetchone() == ("pg_catalog, pg_temp",)
