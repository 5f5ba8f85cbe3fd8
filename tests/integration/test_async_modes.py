"""Async infer, round two (issue 14): ALTER … SET (infer_mode) remakes the Postgres triggers, the
write-back's effect on other triggers (chains see it, unrelated routes do not re-infer), and
async infer isolated in a child process with ``infer_timeout``."""

from __future__ import annotations

import os
import time
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import InvalidSetting
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


def test_async_infer_runs_in_a_child_process(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(ITEMS)
    motion_pg.execute(conn, "CREATE MOTION TRIGGER counter ON items USING "
                      "'motion_test_apps.async_modes:Pid' WITH (infer_mode = 'async')")  # fmt: skip
    conn.execute("INSERT INTO items (value) VALUES (1)")
    assert drain(dsn) == 1
    found = conn.execute("SELECT doubled, note FROM items").fetchone()
    assert found is not None and found[0] == 2
    assert found[1] != str(os.getpid())  # not the process that called drain (the worker)


def test_infer_timeout_is_a_typed_setting(conn: psycopg.Connection[Any]) -> None:
    conn.execute(ITEMS)
    with pytest.raises(InvalidSetting, match="infer_timeout must be a number of seconds"):
        motion_pg.execute(conn, "CREATE MOTION TRIGGER counter ON items USING "
                          "'motion_test_apps.async_modes:Pid' WITH (infer_timeout = 'soon')")  # fmt: skip
    motion_pg.execute(conn, "CREATE MOTION TRIGGER counter ON items USING "
                      "'motion_test_apps.async_modes:Pid' WITH (infer_mode = 'async')")  # fmt: skip
    got = conn.execute("SELECT (settings).infer_timeout FROM motion.triggers").fetchone()
    assert got == (60.0,)
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter SET (infer_timeout = 2.5)")
    got = conn.execute("SELECT (settings).infer_timeout FROM motion.triggers").fetchone()
    assert got == (2.5,)


def _troubled(conn: psycopg.Connection[Any]) -> None:
    conn.execute(ITEMS)
    conn.execute("CREATE TABLE other (id serial PRIMARY KEY, value int NOT NULL, doubled int)")
    motion_pg.execute(conn, "CREATE MOTION TRIGGER troubled ON items USING "
                      "'motion_test_apps.async_modes:Troubled' WITH (infer_mode = 'async', "
                      "infer_timeout = 2); CREATE MOTION TRIGGER fine ON other USING "
                      "'motion_test_apps.async_modes:Troubled' WITH (infer_mode = 'async')")  # fmt: skip


def _errors(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT trigger_name, row_key, error FROM motion.infer_errors").fetchall()


def test_a_hanging_row_times_out_alone(conn: psycopg.Connection[Any], dsn: str) -> None:
    _troubled(conn)
    conn.execute("INSERT INTO items (value) VALUES (1), (13), (2)")
    conn.execute("INSERT INTO other (value) VALUES (5)")
    started = time.monotonic()
    drain(dsn)
    assert time.monotonic() - started < 30  # two 2 s timeouts (the batch, then the row alone)
    assert doubled(conn) == [2, None, 4]  # the rows beside it are inferred one by one
    assert conn.execute("SELECT doubled FROM other").fetchall() == [(10,)]
    [(trigger, key, error)] = _errors(conn)
    assert trigger == "troubled" and key == {"id": 2}
    assert "timed out after 2 s (infer_timeout)" in error and "public.items" in error
    assert conn.execute("SELECT count(*) FROM motion.async_rows").fetchone() == (0,)
    failed = conn.execute("SELECT failed FROM motion.async_stats WHERE trigger_name = 'troubled'")
    assert failed.fetchone() == (1,)


def test_a_crashing_row_costs_only_itself(conn: psycopg.Connection[Any], dsn: str) -> None:
    _troubled(conn)
    conn.execute("INSERT INTO items (value) VALUES (66), (3)")
    conn.execute("INSERT INTO other (value) VALUES (7)")
    drain(dsn)
    assert doubled(conn) == [None, 6]
    assert conn.execute("SELECT doubled FROM other").fetchall() == [(14,)]
    [(trigger, key, error)] = _errors(conn)
    assert trigger == "troubled" and key == {"id": 1}
    assert "the infer process exited with code 3" in error


CHAINED = (
    "CREATE TABLE t (id serial PRIMARY KEY, value int NOT NULL, doubled int, quadrupled int,"
    " calls int, other_calls int, seen_version int)"
)


def _t(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT value, doubled, quadrupled, calls, other_calls FROM t ORDER BY id"
    ).fetchall()


def test_an_async_write_back_does_not_re_infer_unrelated_routes(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    conn.execute(CHAINED)
    motion_pg.execute(conn, "CREATE MOTION TRIGGER up ON t USING "
                      "'motion_test_apps.asynchronous:AsyncDoubler' WITH (infer_mode = 'async');"
                      " CREATE MOTION TRIGGER other ON t USING "
                      "'motion_test_apps.async_modes:Unrelated'")  # fmt: skip
    conn.execute("INSERT INTO t (value) VALUES (1), (2)")
    assert drain(dsn) == 2
    # `other` reads every column, but `up` declares no outputs: no chain, so the write-back of
    # doubled neither calls other's infer again nor queues fit events for it
    assert _t(conn) == [(1, 2, None, None, 1), (2, 4, None, None, 1)]
    events = conn.execute("SELECT count(*) FROM motion.jobs WHERE trigger_name = 'other'")
    assert events.fetchone() == (2,)
    conn.execute("UPDATE t SET value = 3 WHERE value = 1")  # a client's write still infers
    assert _t(conn)[0] == (3, 2, None, None, 2)


def test_a_sync_route_chained_on_async_outputs_infers_the_write_back(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    conn.execute(CHAINED)
    motion_pg.execute(conn, "CREATE MOTION TRIGGER up ON t (value) USING "
                      "'motion_test_apps.async_modes:Upstream' WITH (infer_mode = 'async');"
                      " CREATE MOTION TRIGGER down ON t USING "
                      "'motion_test_apps.async_modes:Downstream'")  # fmt: skip
    conn.execute("INSERT INTO t (value) VALUES (1), (2)")
    assert _t(conn) == [(1, None, None, 1, None), (2, None, None, 1, None)]
    assert drain(dsn) == 2
    assert _t(conn) == [(1, 2, 4, 2, None), (2, 4, 8, 2, None)]


def test_an_async_route_chained_on_async_outputs_infers_them_too(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    conn.execute(CHAINED)
    motion_pg.execute(conn, "CREATE MOTION TRIGGER up ON t (value) USING "
                      "'motion_test_apps.async_modes:Upstream' WITH (infer_mode = 'async');"
                      " CREATE MOTION TRIGGER down ON t USING "
                      "'motion_test_apps.async_modes:Downstream' WITH (infer_mode = 'async')")  # fmt: skip
    conn.execute("INSERT INTO t (value) VALUES (1), (2)")
    drain(dsn)
    found = [(v, d, q) for v, d, q, _, _ in _t(conn)]
    assert found == [(1, 2, 4), (2, 4, 8)]  # down saw up's outputs, whichever ran first
    assert conn.execute("SELECT count(*) FROM motion.async_rows").fetchone() == (0,)
