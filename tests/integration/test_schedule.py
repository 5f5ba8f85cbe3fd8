"""Scheduled routes (ON SCHEDULE 'cron' [FIT m]): once per period however many workers run, a
missed firing runs once on recovery, a scheduled fit's writes fire their own routes, CREATE refuses
a bad expression and leaves nothing behind, DROP removes the schedule, status shows the next
firing."""

from __future__ import annotations

import itertools
import signal
import time
from collections import Counter
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import DefinitionError, MotionError
from motion_pg.worker import Worker
from motion_pg.worker.schedule import Scheduler

from .conftest import motion_pg_cli, state
from .test_reliability import start_worker, wait_until
from .test_reliability import workers as workers  # the fixture

APPS = "motion_test_apps.scheduled"
TICKS = (
    "CREATE TABLE ticks (job_id bigint, op text, relation text, row_data jsonb, route int,"
    " schedule text, method text, fitted_at timestamptz NOT NULL DEFAULT clock_timestamp())"
)


def run_worker(dsn: str) -> int:
    return Worker(dsn, poll_interval=0.05).run(once=True)


def schedule_row(conn: psycopg.Connection[Any], name: str) -> dict[str, Any]:
    cur = conn.execute(
        "SELECT ordinal, cron, fit_method, next_run_at, last_run_at, last_job_id,"
        " next_run_at > now() AS future, next_run_at - now() AS until"
        " FROM motion.schedules WHERE trigger_name = %s",
        [name],
    )
    names = [d.name for d in cur.description or ()]
    rows = cur.fetchall()
    assert len(rows) == 1, rows
    return dict(zip(names, rows[0], strict=True))


def test_three_workers_fire_each_period_once(
    conn: psycopg.Connection[Any], dsn: str, workers: list[Any]
) -> None:
    conn.execute(TICKS)
    motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER ticker ON SCHEDULE '* * * * * *' USING '{APPS}:Ticker'"
    )
    workers.extend(start_worker(dsn) for _ in range(3))
    wait_until(lambda: (conn.execute("SELECT count(*) FROM ticks").fetchone() or (0,))[0] > 0, 30)
    started = time.monotonic()
    time.sleep(6.0)
    for w in workers:
        w.send_signal(signal.SIGTERM)
    for w in workers:
        w.wait(30)
    elapsed = time.monotonic() - started
    fired = conn.execute(
        "SELECT id, state, extract(epoch FROM created_at)::float8 FROM motion.job_history"
        " WHERE trigger_name = 'ticker' AND op = 'SCHEDULE' ORDER BY id"
    ).fetchall()
    # a period fires at or after its second starts and before the next period is due
    per_second = Counter(int(created) for _, _, created in fired)
    assert max(per_second.values()) == 1, per_second
    jobs = [j for j in fired if j[1] != "pending"]  # the last may be handed back at shutdown
    assert all(s == "done" for _, s, _ in jobs) and len(fired) - len(jobs) <= 1, fired
    seconds = sorted(per_second)
    gaps = sum(b - a - 1 for a, b in itertools.pairwise(seconds))
    # liveness, not the guarantee: a period is skipped only when every worker is late by a second
    assert len(jobs) >= int(elapsed) - 2 and gaps <= 2, (len(jobs), elapsed, seconds)
    # each firing reached fit once, as a schedule event without a row
    fitted = conn.execute(
        "SELECT job_id, op, relation, row_data, schedule, method FROM ticks ORDER BY job_id"
    ).fetchall()
    assert [f[0] for f in fitted] == [j[0] for j in jobs]
    assert all(f[1:] == ("SCHEDULE", "", {}, "* * * * * *", "fit") for f in fitted), fitted
    assert state(conn, "ticker")["ticks"] == len(jobs)
    delays = sorted(created - int(created) for _, _, created in jobs[1:])  # [0]: due at start
    print(f"firings: {len(jobs)} in {elapsed:.1f} s by 3 workers; delay after the period began:"
          f" p50 {delays[len(delays) // 2] * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms")  # fmt: skip


def test_missed_periods_fire_once_on_recovery(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(TICKS)
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int)")
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER ticker ON items NO FIT ON SCHEDULE '*/5 * * * *' FIT nightly"
        f" USING '{APPS}:Ticker'",
    )
    first = schedule_row(conn, "ticker")
    assert first["ordinal"] == 1 and first["fit_method"] == "nightly" and first["future"]
    assert first["last_run_at"] is None and first["last_job_id"] is None
    assert run_worker(dsn) == 0  # not due: nothing fires
    # three days without a worker: 864 periods missed
    conn.execute("UPDATE motion.schedules SET next_run_at = now() - interval '3 days'")
    assert run_worker(dsn) == 1
    after = schedule_row(conn, "ticker")
    assert after["future"] and after["until"].total_seconds() <= 300
    assert after["next_run_at"].minute % 5 == 0 and after["next_run_at"].second == 0
    job = conn.execute(
        "SELECT id, route, relation, op, row_data FROM motion.job_history"
    ).fetchall()
    assert job == [(after["last_job_id"], 1, "", "SCHEDULE", {})]
    assert conn.execute("SELECT op, route, method FROM ticks").fetchall() == [
        ("SCHEDULE", 1, "nightly")
    ]
    assert state(conn, "ticker")["nightly"] == 1
    assert run_worker(dsn) == 0  # and not again

    # a disabled trigger's due firing waits for ENABLE, then fires once
    motion_pg.execute(conn, "ALTER MOTION TRIGGER ticker DISABLE")
    conn.execute("UPDATE motion.schedules SET next_run_at = now() - interval '1 hour'")
    assert run_worker(dsn) == 0
    motion_pg.execute(conn, "ALTER MOTION TRIGGER ticker ENABLE")
    assert run_worker(dsn) == 1
    assert conn.execute("SELECT count(*) FROM ticks").fetchone() == (2,)


def test_a_scheduled_fit_writes_rows_that_fire_their_routes(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    conn.execute(
        "CREATE TABLE readings (id serial PRIMARY KEY, value int, doubled int, seen_version int)"
    )
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER counter ON readings USING 'motion_test_apps.basic:Counter'"
    )
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER feeder ON SCHEDULE '0 0 1 1 *' USING '{APPS}:Feeder'"
        " WITH (rows = 3)",
    )
    conn.execute("UPDATE motion.schedules SET next_run_at = now() - interval '1 second'")
    assert run_worker(dsn) == 2  # the feeder's firing, then the counter's fit of its rows
    assert conn.execute("SELECT value, doubled FROM readings ORDER BY id").fetchall() == [
        (1, 2), (2, 4), (3, 6)
    ]  # fmt: skip
    assert state(conn, "feeder")["fed"] == 3
    counted = state(conn, "counter")
    assert counted["count"] == 3 and counted["ids"] == [1, 2, 3]


def test_a_bad_expression_is_refused_and_leaves_nothing(conn: psycopg.Connection[Any]) -> None:
    conn.execute(TICKS)
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int)")
    with pytest.raises(DefinitionError) as info:
        motion_pg.execute(
            conn,
            "CREATE MOTION TRIGGER nightly ON items NO FIT ON SCHEDULE '0 25 * * *'"
            f" USING '{APPS}:Ticker'",
        )
    message = info.value.message
    assert '"nightly"' in message and "'0 25 * * *'" in message, message
    assert "five fields" in (info.value.hint or "")
    with pytest.raises(DefinitionError, match="ON SCHEDULE '0 3 \\* \\* \\*' has no fit method"):
        motion_pg.execute(
            conn,
            f"CREATE MOTION TRIGGER nightly ON SCHEDULE '0 3 * * *' USING '{APPS}:NoFit'",
        )
    with pytest.raises(MotionError, match="has no method 'weekly'"):
        motion_pg.execute(
            conn,
            f"CREATE MOTION TRIGGER nightly ON SCHEDULE '0 3 * * 0' FIT weekly USING '{APPS}:Ticker'",
        )
    for table in ("triggers", "routes", "schedules", "versions"):
        assert conn.execute(f"SELECT count(*) FROM motion.{table}").fetchone() == (0,), table
    assert conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'items'::regclass"
    ).fetchone() == (0,)


def test_replace_keeps_an_unchanged_clock_and_drop_removes_the_schedule(
    conn: psycopg.Connection[Any], dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn.execute(TICKS)
    create = "CREATE OR REPLACE MOTION TRIGGER ticker ON SCHEDULE '{}' USING '" + APPS + ":Ticker'"
    motion_pg.execute(conn, create.format("0 3 * * *"))
    conn.execute("UPDATE motion.schedules SET next_run_at = '2030-01-01 03:00+00'")
    motion_pg.execute(conn, create.format("0 3 * * *"))  # unchanged: keeps its next firing
    assert schedule_row(conn, "ticker")["next_run_at"].year == 2030
    motion_pg.execute(conn, create.format("0 4 * * *"))  # changed: a new clock
    row = schedule_row(conn, "ticker")
    assert row["cron"] == "0 4 * * *" and row["next_run_at"].hour == 4 and row["future"]

    view = conn.execute(
        "SELECT schedules, next_run_at FROM motion.trigger_status WHERE name = 'ticker'"
    ).fetchone()
    assert view == ("ON SCHEDULE '0 4 * * *' FIT fit", row["next_run_at"])
    monkeypatch.setenv("COLUMNS", "400")
    shown = motion_pg_cli("status", dsn=dsn).stdout
    assert "next firing" in shown and row["next_run_at"].strftime("%H:%M:%S") in shown, shown

    # a trigger with schedules only: every statement works without a relation route
    for action in ("DISABLE", "ENABLE", "REFIT", "SET (k = 1)", "RELOAD"):
        motion_pg.execute(conn, f"ALTER MOTION TRIGGER ticker {action}")
    assert "ticker" in motion_pg.execute(conn, "SHOW MOTION TRIGGERS")[0]
    motion_pg.execute(conn, "DROP MOTION TRIGGER ticker")
    assert conn.execute("SELECT count(*) FROM motion.schedules").fetchone() == (0,)


def test_a_firing_is_fitted_in_order_with_the_triggers_other_events(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    conn.execute(TICKS)
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int)")
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER ticker ON items ON SCHEDULE '0 0 1 1 *' FIT nightly"
        f" USING '{APPS}:Ticker'",
    )
    conn.execute("INSERT INTO items (value) VALUES (1)")
    conn.execute("UPDATE motion.schedules SET next_run_at = now() - interval '1 minute'")
    assert Scheduler(0.05).step(conn) == 1  # a worker's scheduler step alone: enqueued, not fitted
    assert Scheduler(0.05).step(conn) == 0  # the period fired already
    conn.execute("INSERT INTO items (value) VALUES (2)")
    assert run_worker(dsn) == 1  # one claim: three events, in two routes
    fitted = conn.execute("SELECT job_id, op, route, method FROM ticks ORDER BY fitted_at")
    rows = fitted.fetchall()
    assert [r[1:] for r in rows] == [
        ("INSERT", 0, "fit"), ("SCHEDULE", 1, "nightly"), ("INSERT", 0, "fit")
    ]  # fmt: skip
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
