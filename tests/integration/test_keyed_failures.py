"""STATE PER: one key's failing fit does not stop the other keys of its run. Its events are retried
(or go dead) on their own with the key named in their error, the other keys' states and ``ctx.db``
writes commit; a failed key that had written through ``ctx.db`` leaves none of its writes."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import motion_pg

from .test_keyed_state import TABLES, run_worker, send

APPS = "motion_test_apps.keyed"


@pytest.fixture
def fragile(conn: psycopg.Connection[Any]) -> None:
    conn.execute(TABLES)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER summary ON messages (body) STATE PER (user_id) USING '{APPS}:Fragile'"
        " WITH (max_attempts = 2, retry_delay = 0.05, retry_delay_max = 0.05)",
    )


def jobs(conn: psycopg.Connection[Any]) -> dict[int, tuple[str, int, str]]:
    """Per user: (state, attempts, the last error) of its one event."""
    rows = conn.execute(
        "SELECT (row_data->>'user_id')::int, state, attempts,"
        " coalesce(errors->-1->>'error', '') FROM motion.job_history ORDER BY id"
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


@pytest.mark.parametrize("body", ["boom", "boom-db"])
def test_a_failing_key_fails_alone(
    conn: psycopg.Connection[Any], dsn: str, fragile: None, body: str
) -> None:
    send(conn, (1, "a"), (2, body), (3, "c"))
    run_worker(dsn)
    found = jobs(conn)
    assert found[1][0] == "done" and found[3][0] == "done", found
    assert found[2][0] in ("pending", "dead"), found
    assert "key [2]" in found[2][2] and "boom" in found[2][2], found[2][2]
    # the other keys' states serve; the failed key still has its initial state
    assert [r[1] for r in send(conn, (1, "?"), (2, "?"), (3, "?"))] == [1, 0, 1]
    # ctx.db writes: the keys that fitted commit theirs, the failed key none
    logged = [r[0] for r in conn.execute("SELECT key FROM fit_log ORDER BY key").fetchall()]
    assert logged == ["1", "3"]


def test_a_failing_key_goes_dead_after_its_attempts_and_others_go_on(
    conn: psycopg.Connection[Any], dsn: str, fragile: None
) -> None:
    send(conn, (2, "boom"))
    run_worker(dsn)
    conn.execute("UPDATE motion.jobs SET run_at = now() WHERE state = 'pending'")
    send(conn, (1, "a"))
    run_worker(dsn)
    found = jobs(conn)
    assert found[2][:2] == ("dead", 2), found
    assert found[1][0] == "done", found
    runs = conn.execute("SELECT state, jobs, error FROM motion.runs ORDER BY id").fetchall()
    # a run whose every key failed is a failed run; one with a key fitted succeeded
    assert runs[0][0] == "failed" and runs[0][1] == 0 and "key [2]" in runs[0][2], runs
    assert ("succeeded", 1, None) in runs, runs
