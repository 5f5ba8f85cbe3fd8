"""Worker policies: isolation of crashing fits, strict ordering, the jobs CLI, the claim plan,
pruning, and the second signal."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from motion_pg.pg import PgDatabase
from motion_pg.worker import Worker

from .conftest import motion_pg_cli
from .test_reliability import create_tally, drained, kill, start_worker, state, wait_until


def jobs(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT (row_data->>'value')::int, state, attempts FROM motion.job_history ORDER BY id"
    ).fetchall()


@pytest.mark.parametrize(
    ("crash", "params", "error"),
    [
        ("exit", "", "exited with code 3"),
        ("segv", "", "killed by SIGSEGV"),
        ("hang", ", fit_timeout = 0.5", "fit timed out after 0.5 s"),
    ],
)
def test_a_crashing_fit_costs_attempts_never_the_worker(
    conn: psycopg.Connection[Any], dsn: str, crash: str, params: str, error: str
) -> None:
    conn.execute("CREATE TABLE tally (id serial PRIMARY KEY, value int NOT NULL)")
    from motion_pg import execute

    execute(
        conn,
        "CREATE MOTION TRIGGER tally ON tally USING 'motion_test_apps.chaos:Crashing'"
        f" WITH (crash = '{crash}', max_attempts = 2, retry_delay = 0{params})",
    )
    conn.execute("INSERT INTO tally (value) VALUES (1)")
    worker = Worker(dsn, poll_interval=0.05)
    assert worker.run(once=True) == 2  # two attempts, then dead; the worker carries on
    row = conn.execute("SELECT state, attempts, errors FROM motion.jobs").fetchone()
    assert row is not None and row[:2] == ("dead", 2)
    assert len(row[2]) == 2 and error in row[2][-1]["error"]
    assert conn.execute("SELECT serving_version FROM motion.triggers").fetchone() == (1,)


def test_strict_ordering_blocks_behind_a_dead_job_until_discarded(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    create_tally(conn, "tally", "fit_batch = 1, poison = 13, on_fit_error = 'block'")
    conn.execute("UPDATE motion.triggers SET settings.max_attempts = 1")
    conn.execute("INSERT INTO tally (value) VALUES (1), (13), (2), (3)")
    Worker(dsn, poll_interval=0.05).run(once=True)
    assert jobs(conn) == [(1, "done", 1), (13, "dead", 1), (2, "pending", 0), (3, "pending", 0)]

    listed = motion_pg_cli("jobs", "list", "--state", "dead", dsn=dsn).stdout
    dead_id = conn.execute("SELECT id FROM motion.jobs WHERE state = 'dead'").fetchone()
    assert dead_id is not None and str(dead_id[0]) in listed and "poisoned" in listed
    shown = motion_pg_cli("jobs", "show", str(dead_id[0]), dsn=dsn).stdout
    assert "ValueError: poisoned event" in shown and "Traceback" in shown

    motion_pg_cli("jobs", "retry", str(dead_id[0]), dsn=dsn)  # still poisoned: dead again
    Worker(dsn, poll_interval=0.05).run(once=True)
    assert jobs(conn)[1] == (13, "dead", 1)
    assert "1 job(s) discarded" in motion_pg_cli("jobs", "discard", str(dead_id[0]), dsn=dsn).stdout
    Worker(dsn, poll_interval=0.05).run(once=True)
    assert [j[1] for j in jobs(conn)] == ["done", "done", "done"]
    assert state(conn, "tally")["count"] == 3


def test_claim_query_uses_the_pending_index(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data, state, finished_at)"
        " SELECT 't' || (g % 3), 0, 'r', 'INSERT', '{}', 'done', now()"
        " FROM generate_series(1, 50000) g"
    )
    conn.execute(
        "INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data)"
        " SELECT 't' || (g % 3), 0, 'r', 'INSERT', '{}' FROM generate_series(1, 100) g"
    )
    conn.execute("ANALYZE motion.jobs")
    from .test_claim_plan import statement

    plan = PgDatabase(conn).query(
        "EXPLAIN " + statement(conn, "claim_jobs"), ["w", 30.0, 100, [], "{}", 100, 1 << 30]
    )
    text = "\n".join(r["QUERY PLAN"] for r in plan)
    assert "jobs_pending_by_trigger" in text, text
    assert "Seq Scan on jobs" not in text, text


def test_finished_jobs_are_pruned_into_the_log(conn: psycopg.Connection[Any], dsn: str) -> None:
    create_tally(conn, "tally")
    conn.execute("INSERT INTO tally (value) SELECT g FROM generate_series(1, 20) g")
    Worker(dsn, poll_interval=0.05).run(once=True)
    # completion moves a fit's events into the log at once (with their data and run)
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (0,)
    assert conn.execute(
        "SELECT count(*), count(row_data), count(run_id), min(attempts) FROM motion.job_log"
    ).fetchone() == (20, 20, 20, 1)
    # finished jobs left in the queue by an earlier release are still pruned into the log
    conn.execute(
        "INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data, state, finished_at)"
        " SELECT 'tally', 0, 'public.tally', 'INSERT', '{}', 'done', now()"
        " FROM generate_series(1, 5)"
    )
    Worker(dsn, poll_interval=0.05, prune_after=0).run(once=True)
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM motion.job_log").fetchone() == (25,)


def test_second_signal_exits_at_once_and_the_lease_hands_the_fit_back(
    conn: psycopg.Connection[Any], dsn: str, tmp_path: Path
) -> None:
    marker = tmp_path / "fits"
    marker.touch()
    os.chmod(tmp_path, 0o777)
    create_tally(conn, "tally", f"fit_sleep = 30, marker = '{marker}'")
    conn.execute("INSERT INTO tally (value) VALUES (1)")
    proc = start_worker(dsn, "--grace", "60")
    try:
        wait_until(lambda: marker.read_text() != "")
        os.kill(proc.pid, signal.SIGTERM)
        time.sleep(0.3)
        start = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(10) == 128 + signal.SIGTERM
        assert time.monotonic() - start < 5
    finally:
        kill(proc)
    # the event is still its run's: the run holds it until the lease expires
    assert conn.execute(
        "SELECT j.state, r.state FROM motion.jobs j JOIN motion.runs r ON j.id = ANY (r.job_ids)"
    ).fetchone() == ("pending", "running")
    conn.execute("UPDATE motion.triggers SET params = params - 'fit_sleep'")
    conn.execute("UPDATE motion.triggers SET revision = nextval('motion.revisions')")
    other = start_worker(dsn)
    try:
        wait_until(lambda: drained(conn, "tally"))
    finally:
        kill(other)
    assert state(conn, "tally")["count"] == 1
    row = conn.execute(
        "SELECT attempts, errors -> -1 ->> 'error' FROM motion.job_history"
    ).fetchone()
    assert row is not None and row[0] == 2 and "lease expired" in row[1]
