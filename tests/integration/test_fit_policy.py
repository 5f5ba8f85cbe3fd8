"""Refit policies (FIT WHEN, REFIT EVERY, REFIT WHEN) with real workers: COUNT >= n waits for n
events then fits them in one call; OR AFTER releases a trickle; EVERY spaces fits; REFIT EVERY
rebuilds the state from setup on its period, once per period however many workers run."""

from __future__ import annotations

import itertools
import signal
import time
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import MotionSyntaxError

from .conftest import state
from .test_reliability import start_worker, wait_until
from .test_reliability import workers as workers  # the fixture

APP = "motion_test_apps.policies:Mean"
READINGS = (
    "CREATE TABLE readings (id serial PRIMARY KEY, value float8, label text, predicted float8)"
)


def pending(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM motion.jobs WHERE trigger_name = %s AND state = 'pending'", [name]
    ).fetchone()
    return int(row[0]) if row else 0


def insert(conn: psycopg.Connection[Any], n: int, value: float = 1.0) -> None:
    conn.execute(
        "INSERT INTO readings (value, label) SELECT %s, 'a' FROM generate_series(1, %s)", [value, n]
    )


def stop(procs: list[Any]) -> None:
    for w in procs:
        w.send_signal(signal.SIGTERM)
    for w in procs:
        w.wait(30)


def test_count_waits_for_n_events_then_fits_them_all(
    conn: psycopg.Connection[Any], dsn: str, workers: list[Any]
) -> None:
    conn.execute(READINGS)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER m ON readings (value) FIT WHEN (COUNT >= 10) USING '{APP}'"
        # batches of fit_batch however loaded the host: under the default 1 s time budget a
        # first call of 4 that took 0.3 s cut the next ones to 3 ([4, 3, 3])
        " WITH (fit_batch = 4, fit_batch_time = 1000)",
    )
    assert conn.execute("SELECT policy FROM motion.fit_policies").fetchone() == (
        {"fit": {"count": 10}, "refit": {}},
    )
    workers.append(start_worker(dsn))
    insert(conn, 4)
    insert(conn, 5)
    time.sleep(2.0)  # ten poll intervals: nothing may be fitted with 9 pending
    assert pending(conn, "m") == 9
    assert state(conn, "m")["batches"] == []
    insert(conn, 1)
    # once released, the ten are fitted in batches of fit_batch, though fewer than ten remain
    wait_until(lambda: state(conn, "m")["batches"] == [4, 4, 2], 30)
    assert state(conn, "m")["count"] == 10
    insert(conn, 3)  # the next three wait for seven more
    time.sleep(1.5)
    assert pending(conn, "m") == 3


def test_or_after_releases_a_trickle(
    conn: psycopg.Connection[Any], dsn: str, workers: list[Any]
) -> None:
    conn.execute(READINGS)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER m ON readings FIT WHEN (COUNT >= 1000 OR AFTER '2 seconds')"
        f" USING '{APP}'",
    )
    workers.append(start_worker(dsn))
    insert(conn, 3)
    started = time.monotonic()
    wait_until(lambda: pending(conn, "m") == 0, 30)
    waited = time.monotonic() - started
    assert waited >= 1.8, waited  # held until the oldest event waited 2 s
    wait_until(lambda: state(conn, "m")["batches"] == [3], 10)


def test_every_spaces_the_fits(conn: psycopg.Connection[Any], dsn: str, workers: list[Any]) -> None:
    conn.execute(READINGS)
    # the period leaves the trickle below seconds to spare on a loaded host (it took over 3 s at
    # load 10-15); no time budget cuts the trickle's one fit (fit_batch_time)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER m ON readings FIT WHEN (EVERY '6 seconds') USING '{APP}'"
        " WITH (fit_batch_time = 1000)",
    )
    workers.append(start_worker(dsn))
    insert(conn, 1)  # no fit yet: the first is released at once
    wait_until(lambda: state(conn, "m")["batches"] == [1], 30)
    for _ in range(4):  # a trickle within the next 6 s goes into one fit
        insert(conn, 1)
        time.sleep(0.3)
    since = conn.execute(
        "SELECT extract(epoch FROM now() - max(finished_at))::float8 FROM motion.runs"
        " WHERE trigger_name = 'm' AND state = 'succeeded'"
    ).fetchone()
    assert since is not None and since[0] < 6.0, f"the trickle took {since} s: the period is over"
    assert state(conn, "m")["batches"] == [1]
    wait_until(lambda: state(conn, "m")["batches"] == [1, 4], 30)
    gaps = conn.execute(
        "SELECT extract(epoch FROM finished_at - lag(finished_at) OVER (ORDER BY id))"
        " FROM motion.runs WHERE trigger_name = 'm' AND state = 'succeeded' ORDER BY id"
    ).fetchall()
    assert gaps[1][0] >= 5.9, gaps


def test_refit_every_rebuilds_from_setup_once_per_period(
    conn: psycopg.Connection[Any], dsn: str, workers: list[Any]
) -> None:
    conn.execute(READINGS)
    insert(conn, 5, 2.0)
    motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER m ON readings (value) REFIT EVERY '2 seconds' USING '{APP}'"
    )
    row = conn.execute(
        "SELECT cron, fit_method, refit_every FROM motion.schedules WHERE trigger_name = 'm'"
    ).fetchone()
    assert row == ("2 seconds", "setup", 2.0)
    # the rows written while the trigger existed but no worker ran: a refit folds them
    conn.execute("ALTER TABLE readings DISABLE TRIGGER USER")
    insert(conn, 5, 4.0)  # rows fit never saw (no events): only a refit counts them
    conn.execute("ALTER TABLE readings ENABLE TRIGGER USER")
    workers.extend(start_worker(dsn) for _ in range(2))
    wait_until(lambda: state(conn, "m")["count"] == 10, 30)
    assert state(conn, "m")["total"] == 30.0
    time.sleep(5.0)
    stop(workers)
    refits = conn.execute(
        "SELECT count(*) FROM motion.versions WHERE trigger_name = 'm' AND source = 'refit'"
    ).fetchone()
    assert refits is not None and refits[0] >= 2, refits
    # once per period, however many workers: the firings (REFIT jobs) are a period apart; a run
    # may fold several of them into one refit when the machine is slow
    fired = [r[0] for r in conn.execute(
        "SELECT extract(epoch FROM created_at)::float8 FROM motion.job_history"
        " WHERE trigger_name = 'm' AND op = 'REFIT' ORDER BY id"
    ).fetchall()]  # fmt: skip
    assert len(fired) >= 3, fired
    gaps = [b - a for a, b in itertools.pairwise(fired)]
    assert all(g >= 1.5 for g in gaps), gaps
    status = conn.execute("SELECT schedules FROM motion.trigger_status WHERE name = 'm'").fetchone()
    assert status == ("REFIT EVERY '2 seconds'",)


def test_refit_when_count_refits_instead_of_fitting(
    conn: psycopg.Connection[Any], dsn: str, workers: list[Any]
) -> None:
    conn.execute(READINGS)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER m ON readings FIT WHEN (COUNT >= 1000)"
        f" REFIT WHEN (COUNT >= 20) USING '{APP}'",
    )
    workers.append(start_worker(dsn))
    insert(conn, 19)
    time.sleep(1.5)
    assert pending(conn, "m") == 19
    insert(conn, 1)
    wait_until(lambda: pending(conn, "m") == 0, 30)
    wait_until(lambda: state(conn, "m")["count"] == 20, 10)
    served = conn.execute(
        "SELECT v.source FROM motion.triggers t JOIN motion.versions v"
        " ON v.trigger_name = t.name AND v.version = t.serving_version WHERE t.name = 'm'"
    ).fetchone()
    assert served == ("refit",)
    assert state(conn, "m")["batches"] == []  # folded by setup, not by fit


def test_policy_survives_or_replace_and_leaves_with_drop(conn: psycopg.Connection[Any]) -> None:
    conn.execute(READINGS)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER m ON readings FIT WHEN (COUNT >= 5) REFIT EVERY '1 hour'"
        f" USING '{APP}'",
    )
    definition = conn.execute("SELECT definition FROM motion.triggers").fetchone()
    assert definition is not None and "FIT WHEN (COUNT >= 5) REFIT EVERY '1 hour'" in definition[0]
    motion_pg.execute(conn, f"CREATE OR REPLACE MOTION TRIGGER m ON readings USING '{APP}'")
    assert conn.execute("SELECT count(*) FROM motion.fit_policies").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM motion.schedules").fetchone() == (0,)
    motion_pg.execute(
        conn,
        f"CREATE OR REPLACE MOTION TRIGGER m ON readings FIT WHEN (AFTER '1 minute') USING '{APP}'",
    )
    motion_pg.execute(conn, "DROP MOTION TRIGGER m")
    assert conn.execute("SELECT count(*) FROM motion.fit_policies").fetchone() == (0,)


def test_bad_policy_is_a_syntax_error_at_its_token(conn: psycopg.Connection[Any]) -> None:
    conn.execute(READINGS)
    with pytest.raises(MotionSyntaxError, match="invalid interval '5 fortnights'") as e:
        motion_pg.execute(
            conn,
            f"CREATE MOTION TRIGGER m ON readings FIT WHEN (AFTER '5 fortnights') USING '{APP}'",
        )
    assert e.value.col == 53
    assert conn.execute("SELECT count(*) FROM motion.triggers").fetchone() == (0,)


def test_a_worker_refit_reads_one_snapshot(
    conn: psycopg.Connection[Any], dsn: str, workers: list[Any]
) -> None:
    """Setup's queries during a worker-side refit see one snapshot: rows committed while setup
    runs are not half-counted (they are fitted on top of the refit's version afterwards)."""
    conn.execute(READINGS)
    insert(conn, 5, 2.0)
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER m ON readings FIT WHEN (COUNT >= 1000) REFIT WHEN (COUNT >= 3)"
        " USING 'motion_test_apps.policies:SnapshotMean'",
    )
    workers.append(start_worker(dsn))
    insert(conn, 3)

    def pausing() -> bool:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s",
            ["%motion_test_snapshot_pause%"],
        ).fetchone()
        return row is not None and row[0] > 0  # the marker is a parameter here, not query text

    wait_until(pausing, 30)
    insert(conn, 2)  # committed while setup pauses between its two reads
    wait_until(
        lambda: (
            conn.execute(
                "SELECT count(*) FROM motion.versions WHERE trigger_name = 'm' AND source = 'refit'"
            ).fetchone()
            == (1,)
        ),
        30,
    )
    refit = conn.execute(
        "SELECT version FROM motion.versions WHERE trigger_name = 'm' AND source = 'refit'"
    ).fetchone()
    assert refit is not None
    built = state(conn, "m", refit[0])
    assert built["first_count"] == built["count"] == 8, built
