"""What a single-row statement through a motion trigger costs the server (issue 15 goal 4), counted
without a clock: relation scans per statement (``pg_stat_xact_all_tables``) and what the stamp
holds. Each relation an executor opens costs a single-row statement ~10k instructions (callgrind),
so the fit route's check walks its relation's routes once, with no index."""

from __future__ import annotations

from typing import Any

import psycopg

import motion_pg
from motion_pg.runtime import stamps


def _scans(conn: psycopg.Connection[Any], *statements: str) -> dict[str, tuple[int, int]]:
    """(sequential, index) scans of motion's tables made by ``statements``, in one transaction
    (PostgreSQL 15's xact views may still hold counts of earlier transactions not yet flushed:
    the difference is taken)."""
    counts = (
        "SELECT relname, seq_scan, coalesce(idx_scan, 0) FROM pg_stat_xact_all_tables"
        " WHERE schemaname = 'motion'"
    )
    with conn.transaction():
        before = {name: (seq, idx) for name, seq, idx in conn.execute(counts).fetchall()}
        for s in statements:
            conn.execute(s)
        after = conn.execute(counts).fetchall()
    scans = {
        name: (int(seq - before.get(name, (0, 0))[0]), int(idx - before.get(name, (0, 0))[1]))
        for name, seq, idx in after
    }
    return {name: n for name, n in scans.items() if n != (0, 0)}


def _items(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "CREATE TABLE items (id int PRIMARY KEY, value int, doubled int, seen_version int)"
    )
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.basic:Counter'"
    )
    conn.execute("INSERT INTO items (id, value) VALUES (0, 0)")  # load the trigger first


def test_a_fit_route_checks_its_route_in_one_walk_of_the_relations_routes(
    conn: psycopg.Connection[Any],
) -> None:
    """enqueue_statement's route check, lineage columns and STATE PER columns: one scan of
    motion.routes per statement (the relation's routes) and no index of it; the old query also
    looked the route up by primary key (an index and its lock more per statement)."""
    _items(conn)
    scans = _scans(conn, *(f"INSERT INTO items (id, value) VALUES ({i}, {i})" for i in (1, 2, 3)))
    assert scans.get("routes") == (3, 0), scans
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (4,)
    row_data = conn.execute("SELECT row_data FROM motion.jobs ORDER BY id DESC LIMIT 1").fetchone()
    assert row_data is not None and "counter_lineage" not in row_data[0], row_data
    assert row_data[0]["doubled"] == 6, row_data


def test_the_stamp_holds_the_statements_time_to_the_microsecond(
    conn: psycopg.Connection[Any],
) -> None:
    """The statement's time reaches the stamp as timestamptz_send's bytes: exact, like the
    numeric EXTRACT it replaced."""
    _items(conn)
    for i in (1, 2, 3):
        stamp, expected = conn.execute(
            f"INSERT INTO items (id, value) VALUES ({i}, 1) RETURNING counter_lineage,"
            " (EXTRACT(epoch FROM statement_timestamp()) * 1000000)::int8"
        ).fetchone()
        assert stamps.decode(bytes(stamp)).micros == expected
