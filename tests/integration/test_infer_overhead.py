"""What a single-row statement through a motion trigger runs (issue 15 goal 4), counted with
``track_functions``: no statement or row asks ``motion._async_writing`` (a SQL function planned on
every call, once most of a single-row statement's cost) or ``motion._writing_back`` (a PL/Python
call) unless a setting says a write-back may be running, and the serving check runs once per
statement."""

from __future__ import annotations

from typing import Any

import psycopg

import motion_pg


def _calls(conn: psycopg.Connection[Any], *statements: str) -> dict[str, int]:
    """Calls of motion's functions made by ``statements``, run in one transaction."""
    with conn.transaction():
        conn.execute("SET LOCAL track_functions = 'all'")
        for s in statements:
            conn.execute(s)
        rows = conn.execute(
            "SELECT funcname, calls FROM pg_stat_xact_user_functions WHERE schemaname = 'motion'"
        ).fetchall()
    return {name: int(calls) for name, calls in rows}


def _items(conn: psycopg.Connection[Any], using: str, settings: str = "") -> None:
    conn.execute(
        "CREATE TABLE items (id int PRIMARY KEY, value int, doubled int, seen_version int)"
    )
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER counter ON items USING '{using}'{settings}")


def test_single_row_inserts_never_ask_the_async_write_back_check(
    conn: psycopg.Connection[Any],
) -> None:
    _items(conn, "motion_test_apps.basic:Counter")
    conn.execute("INSERT INTO items (id, value) VALUES (0, 0)")  # load the trigger first
    calls = _calls(conn, *(f"INSERT INTO items (id, value) VALUES ({i}, {i})" for i in (1, 2, 3)))
    assert calls.get("_async_writing", 0) == 0, calls
    assert calls.get("_writing_back", 0) == 0, calls  # asked only in a nested or backfill write
    assert calls.get("_check_serving") == 3, calls  # once per statement
    assert calls.get("infer_statement") == 3 and calls.get("infer_row") == 3, calls
    assert calls.get("enqueue_statement") == 3, calls  # the fit events are still queued
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (4,)
    assert conn.execute("SELECT doubled FROM items WHERE id = 3").fetchone() == (6,)


def test_updates_of_a_stamped_row_never_ask_the_async_write_back_check(
    conn: psycopg.Connection[Any],
) -> None:
    """A client's UPDATE of a lineage-stamped row runs the lineage guard; the row keeps a stamp
    motion wrote (the UPDATE re-infers it), and the guard asks the write-back check only when the
    setting says 'on'."""
    _items(conn, "motion_test_apps.basic:Counter")
    conn.execute("INSERT INTO items (id, value) VALUES (1, 1)")
    forged = (b"\x01\x02",)
    calls = _calls(conn, "UPDATE items SET counter_lineage = '\\x0102'::bytea WHERE id = 1")
    assert calls.get("_async_writing", 0) == 0, calls
    assert calls.get("_writing_back", 0) == 0, calls
    assert calls.get("lineage_guard") == 1, calls
    assert conn.execute("SELECT counter_lineage FROM items WHERE id = 1").fetchone() != forged
    # the setting on (as the worker sets it): the check is asked, and says no to a client
    calls = _calls(
        conn,
        "SET LOCAL motion.async_writeback = 'on'",
        "UPDATE items SET counter_lineage = '\\x0102'::bytea WHERE id = 1",
    )
    assert calls.get("_async_writing", 0) >= 1, calls
    assert conn.execute("SELECT counter_lineage FROM items WHERE id = 1").fetchone() != forged


def test_the_write_back_setting_alone_changes_nothing(conn: psycopg.Connection[Any]) -> None:
    """Any client may set motion.async_writeback: without the worker's mark in
    motion.async_writebacks its rows are still inferred and queued for fit."""
    _items(conn, "motion_test_apps.basic:Counter")
    calls = _calls(
        conn,
        "SET LOCAL motion.async_writeback = 'on'",
        "INSERT INTO items (id, value) VALUES (1, 5)",
    )
    assert calls.get("_async_writing", 0) >= 1, calls
    assert conn.execute("SELECT doubled FROM items WHERE id = 1").fetchone() == (10,)
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (1,)


def test_async_routes_record_rows_without_asking_the_write_back_check(
    conn: psycopg.Connection[Any],
) -> None:
    """An async route's record triggers (statement and row) ask ``_async_writing`` only when the
    setting says a write-back may be running: a client's INSERT records the row without it."""
    _items(conn, "motion_test_apps.basic:Counter", " WITH (infer_mode = 'async')")
    calls = _calls(conn, *(f"INSERT INTO items (id, value) VALUES ({i}, {i})" for i in (1, 2, 3)))
    assert calls.get("_async_writing", 0) == 0, calls
    assert conn.execute("SELECT count(*) FROM motion.async_rows").fetchone() == (3,)
