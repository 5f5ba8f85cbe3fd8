"""Bulk folds (issue 15, goal 2): the plain claim locks its batch in the same walk of the trigger's
row range that finds it, and still never takes an event after one another transaction holds; the
claim step sends the worker no row the fit process reads back typed."""

from __future__ import annotations

from typing import Any

import psycopg

from motion_pg.pg import PgDatabase
from motion_pg.queries import query

from .test_reliability import create_tally

_STEP = "SELECT * FROM motion.claim_step('w', 30, 100, '{}', '{}', 100, 1073741824, false)"


def _claim(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    return PgDatabase(conn).query(query("claim_jobs"), ["w", 30.0, 100, [], "{}", 100, 1 << 30])


def _pending(conn: psycopg.Connection[Any], events: int) -> list[int]:
    create_tally(conn, "tally")
    conn.execute("INSERT INTO tally (value) SELECT g FROM generate_series(1, %s) g", [events])
    rows = conn.execute("SELECT id FROM motion.jobs WHERE trigger_name = 'tally' ORDER BY id")
    return [int(r[0]) for r in rows]


def test_a_claim_stops_before_an_event_another_transaction_holds(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    """An event locked elsewhere (a backlog trim in flight) cuts the batch before it: the later
    events are not fitted ahead of it; the next claim, once it is free, starts with it."""
    ids = _pending(conn, 10)
    with psycopg.connect(dsn) as other:  # a transaction: holds the lock until it ends
        other.execute("SELECT 1 FROM motion.jobs WHERE id = %s FOR UPDATE", [ids[4]])
        first = _claim(conn)
        assert [r["id"] for r in first] == ids[:4]
        PgDatabase(conn).query(query("complete_jobs"), [first[0]["run_id"]])
        conn.execute("UPDATE motion.runs SET state = 'succeeded' WHERE id = %s",
                     [first[0]["run_id"]])  # fmt: skip
        assert _claim(conn) == []  # its oldest ready event is held: no run, nothing skipped
        assert conn.execute("SELECT count(*) FROM motion.runs WHERE state = 'running'"
                            ).fetchone() == (0,)  # fmt: skip
    rest = _claim(conn)
    assert [r["id"] for r in rest] == ids[4:]


def test_the_claim_step_sends_no_row_the_fit_process_reads_back(
    conn: psycopg.Connection[Any],
) -> None:
    """A plain claim's events come without their row data (the fit process reads each row back
    typed); their ids, routes, relations and operations are there."""
    ids = _pending(conn, 3)
    rows = conn.execute(_STEP).fetchall()
    assert [r[3] for r in rows] == ids
    assert {(r[0], r[4], r[5], r[6], r[7]) for r in rows} == {
        ("plain", 0, "public.tally", "INSERT", None)
    }


def test_a_claim_step_takes_the_next_trigger_when_a_claim_in_flight_holds_the_oldest(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    """Two workers woken together pick the same trigger; the one whose claim finds its events
    held takes the next trigger in the same step instead of taking nothing and sleeping until
    the next poll (why two workers drained two triggers no faster than one)."""
    create_tally(conn, "first")
    create_tally(conn, "second")
    conn.execute("INSERT INTO first (value) SELECT g FROM generate_series(1, 5) g")
    conn.execute("INSERT INTO second (value) SELECT g FROM generate_series(1, 5) g")
    with psycopg.connect(dsn) as other:  # a claim in flight: its events locked, no run yet
        other.execute("SELECT 1 FROM motion.jobs WHERE trigger_name = 'first' FOR UPDATE")
        rows = conn.execute(_STEP).fetchall()
        assert {(r[0], r[2]) for r in rows} == {("plain", "second")}
        assert len(rows) == 5
