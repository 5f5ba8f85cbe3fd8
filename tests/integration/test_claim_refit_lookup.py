"""The claim step looks for a pending REFIT only when one can be pending (issue 15, P3): the
lookup, ``motion._pending_refit``, is a LANGUAGE sql function planned on every call, ~0.2 ms of a
one-event claim step's ~0.6 ms of server time. Counted, not timed."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import motion_pg

APP = "motion_test_apps.fitcall:Counted"
_STEP = "SELECT * FROM motion.claim_step('w', 30, 100, '{}', '{}', 100, 1073741824, false)"


def _lookups(dsn: str) -> tuple[list[str], int]:
    """One claim step in a rolled-back transaction: the kinds of its rows, and the lookups."""
    with psycopg.connect(dsn) as c:
        c.execute("SET track_functions = 'all'")
        kinds = [r[0] for r in c.execute(_STEP).fetchall()]
        row = c.execute(
            "SELECT coalesce(pg_stat_get_xact_function_calls("
            "'motion._pending_refit(text)'::regprocedure), 0)"
        ).fetchone()
        c.rollback()
    assert row is not None
    return kinds, int(row[0])


@pytest.fixture
def trickle(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE trickle (id serial PRIMARY KEY, x int)")
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER trickle ON trickle USING '{APP}'")


def test_a_plain_claim_step_looks_for_no_refit_when_none_can_be_pending(
    conn: psycopg.Connection[Any], dsn: str, trickle: None
) -> None:
    conn.execute("INSERT INTO trickle (x) VALUES (1)")
    assert _lookups(dsn) == (["plain"], 0)


def test_a_claim_step_looks_for_a_refit_once_one_can_be_pending(
    conn: psycopg.Connection[Any], dsn: str, trickle: None
) -> None:
    conn.execute("SELECT motion._enqueue_refit('trickle', 'test')")
    conn.execute("INSERT INTO trickle (x) VALUES (1)")
    kinds, lookups = _lookups(dsn)
    assert "plain" in kinds and lookups == 1
