"""One fold statement for every fit call (issue 15 goals 3 and 6): a single call commits through
``fold_group`` with one slice, a group pays no round trip more than a single call (the new runs'
ids are drawn by the statement), and a trickle's fold runs the statement's cached plan instead of
planning it again for every call."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.pg import connect
from motion_pg.worker import Worker
from motion_pg.worker.committing import Claim
from motion_pg.worker.fitting import FitComputer

from .conftest import state
from .protocol_trace import sent


@pytest.fixture
def worker(conn: psycopg.Connection[Any], dsn: str) -> Worker:
    conn.execute("CREATE TABLE onefold (id serial PRIMARY KEY, x int)")
    motion_pg.execute(conn, "CREATE MOTION TRIGGER onefold ON onefold "
                      "USING 'motion_test_apps.fitcall:Counted'")  # fmt: skip
    return Worker(dsn, fit_batch=1, infer_threads=0)


def claim(worker: Worker, wconn: psycopg.Connection[Any]) -> Claim:
    found = worker.claim(wconn)
    assert found is not None, "an event was pending"
    return found


def round_trips(conn: psycopg.Connection[Any], action: Any) -> list[str]:
    """The messages after which ``action`` waited for the server (a Flush after the pipeline's
    Sync waits for nothing more)."""
    return [f[2] for f in sent(conn, action) if f[2] in ("Query", "Sync")]


def test_a_group_costs_the_round_trips_of_a_single_call(
    conn: psycopg.Connection[Any], dsn: str, worker: Worker
) -> None:
    wconn = worker._connected()
    computer = FitComputer(connect(dsn, autocommit=True))
    conn.execute("INSERT INTO onefold (x) VALUES (0)")
    computer.fit(claim(worker, wconn))  # the first call loads the class and reads the state
    conn.execute("INSERT INTO onefold (x) SELECT g FROM generate_series(1, 4) g")
    group = claim(worker, wconn)
    assert len(group.events) == 4, "one claim takes four fit calls' worth"
    group.group_seconds = 60.0  # however loaded the machine, every slice is fitted now
    sent = round_trips(computer.conn, lambda: computer.fit(group))
    # the opening (a simple query) and the commit pipeline; no statement drawing run ids first
    assert sent == ["Query", "Sync"], sent
    made = conn.execute(
        "SELECT v.version, v.run_id, r.jobs, r.version_before, r.state FROM motion.versions v"
        " JOIN motion.runs r ON r.id = v.run_id WHERE v.source = 'fit' ORDER BY v.version"
    ).fetchall()
    assert [(v, jobs, before, s) for v, _, jobs, before, s in made] == [
        (2, 1, 1, "succeeded"), (3, 1, 2, "succeeded"), (4, 1, 3, "succeeded"),
        (5, 1, 4, "succeeded"), (6, 1, 5, "succeeded"),
    ]  # fmt: skip
    assert len({r for _, r, _, _, _ in made}) == 5
    assert state(conn, "onefold")["n"] == 5
    assert conn.execute(
        "SELECT count(DISTINCT run_id), count(*) FROM motion.job_log"
    ).fetchone() == (5, 5)


def test_a_trickle_fold_runs_the_statements_cached_plan(
    conn: psycopg.Connection[Any], dsn: str, worker: Worker
) -> None:
    wconn = worker._connected()
    computer = FitComputer(connect(dsn, autocommit=True))
    for i in range(12):
        conn.execute("INSERT INTO onefold (x) VALUES (%s)", [i])
        worker.budget.hold("onefold", 1 << 30, 1)  # one event per claim: a trickle
        computer.fit(claim(worker, wconn))
    # planning fold_group (~0.9 ms) costs more than running it for one event: once prepared,
    # every call runs the generic plan, none is planned again
    plans = computer.conn.execute(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
        " WHERE statement LIKE '%INSERT INTO motion.job_log%'"
    ).fetchall()
    assert len(plans) == 1, plans
    generic, custom = plans[0]
    assert (generic >= 5, custom) == (True, 0), plans
    assert state(conn, "onefold")["n"] == 12
    sizes = conn.execute(
        "SELECT count(*) FILTER (WHERE state_bytes > 0), count(*) FROM motion.versions"
        " WHERE source = 'fit'"
    ).fetchone()
    assert sizes == (12, 12)
