"""Async infer, round two (issue 14): ALTER … SET (infer_mode) remakes the Postgres triggers, the
write-back's effect on other triggers (chains see it, unrelated routes do not re-infer), and
async infer isolated in a child process with ``infer_timeout``."""

from __future__ import annotations

from typing import Any

import psycopg

import motion_pg
from motion_pg.worker.async_loop import drain

ITEMS = (
    "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, note text, doubled int,"
    " seen_version int, batch_size int)"
)


def kinds(conn: psycopg.Connection[Any], table: str = "items") -> list[str]:
    found = conn.execute(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal"
        " ORDER BY 1",
        [table],
    ).fetchall()
    return [n for (n,) in found]


def doubled(conn: psycopg.Connection[Any]) -> list[Any]:
    return [d for (d,) in conn.execute("SELECT doubled FROM items ORDER BY id").fetchall()]


def test_alter_set_infer_mode_remakes_the_triggers(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(ITEMS)
    motion_pg.execute(conn, "CREATE MOTION TRIGGER counter ON items USING "
                      "'motion_test_apps.asynchronous:AsyncDoubler'")  # fmt: skip
    assert not [k for k in kinds(conn) if "async" in k]
    said = motion_pg.execute(conn, "ALTER MOTION TRIGGER counter SET (infer_mode = 'async')")
    assert said == ["ALTER MOTION TRIGGER counter SET (version 2)"]
    names = kinds(conn)
    assert "motion_counter_0_async_ins" in names and not [k for k in names if "infer" in k]
    conn.execute("INSERT INTO items (value) VALUES (1)")
    assert doubled(conn) == [None]  # the worker infers it now, after commit
    assert drain(dsn) == 1
    assert doubled(conn) == [2]
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter SET (infer_mode = 'row')")
    assert not [k for k in kinds(conn) if "async" in k]
    conn.execute("INSERT INTO items (value) VALUES (5)")
    assert doubled(conn) == [2, 10]  # inferred in the writing statement again
    assert drain(dsn) == 0


def test_rollback_to_a_version_with_another_mode_remakes_them(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute(ITEMS)
    motion_pg.execute(conn, "CREATE MOTION TRIGGER counter ON items USING "
                      "'motion_test_apps.asynchronous:AsyncDoubler'")  # fmt: skip
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter SET (infer_mode = 'async')")
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter ROLLBACK TO VERSION 1")
    assert not [k for k in kinds(conn) if "async" in k]
    conn.execute("INSERT INTO items (value) VALUES (4)")
    assert doubled(conn) == [8]


def test_alter_to_batch_and_back(conn: psycopg.Connection[Any]) -> None:
    conn.execute(ITEMS)
    motion_pg.execute(conn, "CREATE MOTION TRIGGER counter ON items USING "
                      "'motion_test_apps.asynchronous:AsyncBatch' WITH (infer_mode = 'row')")  # fmt: skip
    assert not [k for k in kinds(conn) if k.endswith("_infer_batch")]
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter SET (infer_mode = 'batch')")
    assert [k for k in kinds(conn) if k.endswith("_infer_batch")]
    conn.execute("INSERT INTO items (value) VALUES (1), (2)")
    sizes = conn.execute("SELECT batch_size FROM items ORDER BY id").fetchall()
    assert sizes == [(2,), (2,)]
