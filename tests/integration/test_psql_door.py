"""A user with psql alone: create a motion trigger, insert, run the worker, see the new version."""

from __future__ import annotations

from typing import Any

import psycopg

from .conftest import motion_pg_cli, psql


def test_psql_only_loop(conn: psycopg.Connection[Any], dsn: str) -> None:
    psql(
        dsn,
        "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int, seen_version int)",
        "SELECT motion.exec($$ CREATE MOTION TRIGGER counter ON items"
        " USING 'motion_test_apps.basic:Counter' WITH (factor = 3) $$)",
    )
    out = psql(dsn, "INSERT INTO items (value) VALUES (2), (5) RETURNING doubled, seen_version")
    assert out.stdout.split() == ["6|1", "15|1"]
    motion_pg_cli("worker", "--once", dsn=dsn)
    out = psql(dsn, "SELECT serving_version FROM motion.triggers WHERE name = 'counter'")
    assert out.stdout.strip() == "2"
    out = psql(dsn, "INSERT INTO items (value) VALUES (1) RETURNING seen_version")
    assert out.stdout.strip() == "2"


def test_psql_syntax_error_has_position(conn: psycopg.Connection[Any], dsn: str) -> None:
    out = psql(dsn, "SELECT motion.exec($$CREATE MOTION TRIGGER t\n  ON items INFERR x USING 'a:B'$$)",
               check=False)  # fmt: skip
    assert out.returncode != 0
    assert "line 2" in out.stderr


def test_apply_mixed_file(conn: psycopg.Connection[Any], dsn: str, tmp_path: Any) -> None:
    f = tmp_path / "migration.sql"
    f.write_text(
        "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int,"
        " seen_version int);\n"
        "-- a motion statement between ordinary ones\n"
        "CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.basic:Counter';\n"
        "INSERT INTO items (value) VALUES (4);\n"
    )
    motion_pg_cli("apply", str(f), dsn=dsn)
    assert conn.execute("SELECT doubled FROM items").fetchone() == (8,)


def test_apply_syntax_error_points_into_the_file(
    conn: psycopg.Connection[Any], dsn: str, tmp_path: Any
) -> None:
    f = tmp_path / "bad.sql"
    f.write_text("CREATE TABLE items (id int);\n\nCREATE MOTION TRIGGER t ON items USING;\n")
    out = motion_pg_cli("apply", str(f), dsn=dsn, check=False)
    assert out.returncode != 0
    assert "line 3" in out.stderr
    assert conn.execute("SELECT to_regclass('items')").fetchone() == (None,)
