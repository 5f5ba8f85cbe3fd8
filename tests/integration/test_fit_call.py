"""One fit call (issue 15 goal 3): two round trips in the fit process (one opens the transaction
and reads the trigger and the typed events, one writes the version, completes the run and commits),
and the fence still holds with the COMMIT sent before the fence's answer is read: a reclaimed run,
code deployed while the fit ran, or a commit that landed already commit nothing, the fit's own
``ctx.db`` writes included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import pq

import motion_pg
from motion_pg.errors import FitError
from motion_pg.pg import connect
from motion_pg.worker import Worker
from motion_pg.worker.committing import Claim, LostRun
from motion_pg.worker.fitting import FitComputer

from .conftest import state
from .protocol_trace import sent

APP = "motion_test_apps.fitcall:Logged"


@pytest.fixture
def setup(conn: psycopg.Connection[Any], dsn: str) -> tuple[Worker, psycopg.Connection[Any]]:
    conn.execute("CREATE TABLE fitcall (id serial PRIMARY KEY, x int)")
    conn.execute("CREATE TABLE fitcall_log (event_id bigint)")
    conn.execute("CREATE TABLE fitcall_hook (dsn text, during text)")
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER fitcall ON fitcall USING '{APP}'")
    worker = Worker(dsn, fit_batch=1, infer_threads=0)
    for trigger in ("fitcall", "counted"):  # one call per claim: no group (test_group_commit.py)
        worker.budget.hold(trigger, 1 << 30, 1)
    return worker, worker._connected()


def claim(worker: Worker, wconn: psycopg.Connection[Any]) -> Claim:
    found = worker.claim(wconn)
    assert found is not None, "an event was pending"
    return found


def round_trips(conn: psycopg.Connection[Any], action: Callable[[], Any]) -> list[str]:
    """The messages after which ``action`` waited for the server: simple queries, syncs and
    flushes (libpq's protocol trace of ``conn``)."""
    return [f[2] for f in sent(conn, action) if f[2] in ("Query", "Sync", "Flush")]


def test_a_plain_fit_call_costs_two_round_trips(
    conn: psycopg.Connection[Any], dsn: str, setup: tuple[Worker, psycopg.Connection[Any]]
) -> None:
    worker, wconn = setup
    motion_pg.execute(conn, "CREATE MOTION TRIGGER counted ON fitcall "
                      "USING 'motion_test_apps.fitcall:Counted'")  # fmt: skip
    computer = FitComputer(connect(dsn, autocommit=True))
    conn.execute("INSERT INTO fitcall (x) SELECT g FROM generate_series(1, 3) g")
    traced, loaded = 0, set()
    for _ in range(6):
        found = claim(worker, wconn)
        if found.trigger != "counted" or found.trigger not in loaded:
            loaded.add(found.trigger)
            computer.fit(found)  # the first call loads the class and reads the state
            continue
        sent = round_trips(computer.conn, lambda: computer.fit(found))  # noqa: B023
        # Query: the first (a simple query), Sync: the last (a pipeline); a Flush after the Sync
        # waits for nothing more
        assert [m for m in sent if m != "Flush"] == ["Query", "Sync"], sent
        traced += 1
    assert traced == 2
    assert state(conn, "counted")["n"] == 3
    assert state(conn, "fitcall")["n"] == 3
    assert conn.execute("SELECT count(*) FROM motion.job_log").fetchone() == (6,)


def test_a_reclaimed_run_commits_nothing(
    conn: psycopg.Connection[Any], dsn: str, setup: tuple[Worker, psycopg.Connection[Any]]
) -> None:
    worker, wconn = setup
    computer = FitComputer(connect(dsn, autocommit=True))
    conn.execute("INSERT INTO fitcall (x) VALUES (1), (2)")
    computer.fit(claim(worker, wconn))
    # while the fit runs, its lease expires and another worker takes the run over
    conn.execute("INSERT INTO fitcall_hook VALUES (%s, %s)",
                 [dsn, "UPDATE motion.runs SET worker_id = 'another' WHERE state = 'running'"])  # fmt: skip
    with pytest.raises(LostRun):
        computer.fit(claim(worker, wconn))
    assert computer.conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert conn.execute("SELECT count(*) FROM fitcall_log").fetchone() == (1,)
    assert conn.execute("SELECT max(version) FROM motion.versions").fetchone() == (2,)
    assert state(conn, "fitcall")["n"] == 1


def test_code_deployed_while_the_fit_ran_commits_nothing(
    conn: psycopg.Connection[Any], dsn: str, setup: tuple[Worker, psycopg.Connection[Any]]
) -> None:
    worker, wconn = setup
    computer = FitComputer(connect(dsn, autocommit=True))
    conn.execute("INSERT INTO fitcall (x) VALUES (1), (2)")
    computer.fit(claim(worker, wconn))
    conn.execute("INSERT INTO fitcall_hook VALUES (%s, %s)",
                 [dsn, "UPDATE motion.triggers SET code_digest = 'f' || code_digest"])  # fmt: skip
    with pytest.raises(FitError, match="deployed again while this fit ran"):
        computer.fit(claim(worker, wconn))
    assert computer.conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert conn.execute("SELECT count(*) FROM fitcall_log").fetchone() == (1,)
    assert conn.execute("SELECT state FROM motion.runs ORDER BY id DESC LIMIT 1").fetchone() == (
        "running",
    )


def test_a_commit_that_landed_does_not_pass_the_fence_again(
    conn: psycopg.Connection[Any], dsn: str, setup: tuple[Worker, psycopg.Connection[Any]]
) -> None:
    # the fit process runs a fit again when its connection dropped; had the first commit landed,
    # the run is finished already, and a later transaction must not pass the fence (its COMMIT
    # would commit that fit's ctx.db writes a second time)
    worker, wconn = setup
    computer = FitComputer(connect(dsn, autocommit=True))
    conn.execute("INSERT INTO fitcall (x) VALUES (1)")
    claimed = claim(worker, wconn)
    computer.fit(claimed)
    digest = conn.execute("SELECT code_digest FROM motion.triggers").fetchone()
    assert digest is not None
    with pytest.raises(psycopg.Error) as raised:
        conn.execute("SELECT motion._fit_fence(%s, %s, 'fitcall', %s)",
                     [claimed.run_id, claimed.worker_id, digest[0]])  # fmt: skip
    assert raised.value.sqlstate == "MP410"
    with pytest.raises(FitError, match="no longer where the fit reads it"):
        computer.fit(claimed)
    assert conn.execute("SELECT count(*) FROM fitcall_log").fetchone() == (1,)
    assert conn.execute("SELECT max(version) FROM motion.versions").fetchone() == (2,)
