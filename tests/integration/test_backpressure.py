"""Backpressure (issue 12 item 3): discard_after and keep_latest shed a backlog at claim time,
count what they dropped and show it in status and metrics; the default keeps every event."""

from __future__ import annotations

import json
import threading
import time
from subprocess import Popen
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import InvalidSetting
from motion_pg.metrics.collector import CatalogCollector
from motion_pg.worker import Worker

from .conftest import motion_pg_cli
from .test_reliability import drained, start_worker, state, wait_until, workers  # noqa: F401


def tally(conn: psycopg.Connection[Any], params: str = "") -> None:
    conn.execute("CREATE TABLE tally (id serial PRIMARY KEY, value int NOT NULL)")
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER tally ON tally USING 'motion_test_apps.chaos:Tally'"
        + (f" WITH ({params})" if params else ""),
    )


def produce(conn: psycopg.Connection[Any], values: range) -> None:
    for v in values:  # one transaction per event, as a stream of writers would
        conn.execute("INSERT INTO tally (value) VALUES (%s)", [v])


def discards(conn: psycopg.Connection[Any]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT reason, sum(events)::int FROM motion.discards GROUP BY reason"
    ).fetchall()
    return dict(rows)


def status_json(dsn: str) -> dict[str, Any]:
    out = motion_pg_cli("status", "--json", dsn=dsn).stdout
    return {r["trigger"]: r for r in json.loads(out)}


def test_keep_latest_keeps_only_the_newest_n(conn: psycopg.Connection[Any], dsn: str) -> None:
    tally(conn, "keep_latest = 5")
    produce(conn, range(1, 21))  # 20 events while no worker runs
    Worker(dsn, poll_interval=0.05).run(once=True)
    fitted = state(conn, "tally")["ids"]
    assert fitted == [16, 17, 18, 19, 20]  # the newest five, oldest first
    assert discards(conn) == {"keep_latest": 15}
    backlog = status_json(dsn)["tally"]["backlog"]
    assert backlog["keep_latest"] == 5
    assert backlog["discarded"] == 15 and backlog["discarded_beyond_latest"] == 15
    assert backlog["pending"] == 0 and backlog["last_discard_at"] is not None
    text = motion_pg_cli("status", dsn=dsn).stdout
    assert "keep_latest 5" in text and "15 (15 beyond latest)" in text


def test_discard_after_drops_events_older_than_the_interval(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    tally(conn, "discard_after = '1 minute'")
    produce(conn, range(1, 11))  # 10 events, made old: an hour in the past
    conn.execute("UPDATE motion.jobs SET created_at = created_at - interval '1 hour'")
    produce(conn, range(11, 16))  # 5 fresh ones: fresh for a minute, however slow the worker
    Worker(dsn, poll_interval=0.05).run(once=True)
    assert state(conn, "tally")["ids"] == [11, 12, 13, 14, 15]
    assert discards(conn) == {"discard_after": 10}
    row = conn.execute(
        "SELECT oldest_created_at < newest_created_at, last_at > newest_created_at"
        " FROM motion.discards"
    ).fetchone()
    assert row == (True, True)
    backlog = status_json(dsn)["tally"]["backlog"]
    assert backlog["discard_after_seconds"] == 60.0 and backlog["discarded_too_old"] == 10


def test_default_keeps_every_event(conn: psycopg.Connection[Any], dsn: str) -> None:
    tally(conn)
    produce(conn, range(1, 31))
    Worker(dsn, poll_interval=0.05).run(once=True)
    assert state(conn, "tally")["ids"] == list(range(1, 31))
    assert discards(conn) == {}
    assert status_json(dsn)["tally"]["backlog"]["discarded"] == 0


def test_a_fast_producer_and_a_slow_fit(
    conn: psycopg.Connection[Any],
    dsn: str,
    workers: list[Popen[str]],  # noqa: F811
) -> None:
    # Motion's illustration: fits far slower than arrivals. Each fit takes 0.5 s for one event;
    # 80 events arrive in ~2 s. keep_latest = 3 bounds the backlog; nothing is lost unaccounted.
    tally(conn, "keep_latest = 3, fit_batch = 1, fit_sleep = 0.5")
    workers.append(start_worker(dsn))
    conn.execute("INSERT INTO tally (value) VALUES (0)")  # the worker is up and has fitted once
    wait_until(lambda: drained(conn, "tally"), timeout=60)
    stop = threading.Event()
    peak = [0]

    def watch() -> None:
        with psycopg.connect(dsn, autocommit=True) as w:
            while not stop.is_set():
                row = w.execute("SELECT count(*) FROM motion.jobs WHERE state = 'pending'")
                peak[0] = max(peak[0], row.fetchone()[0])  # type: ignore[index]
                time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    for v in range(1, 81):
        conn.execute("INSERT INTO tally (value) VALUES (%s)", [v])
        time.sleep(0.025)
    wait_until(lambda: drained(conn, "tally"), timeout=60)
    stop.set()
    watcher.join()
    fitted = state(conn, "tally")["ids"]
    dropped = discards(conn).get("keep_latest", 0)
    assert len(fitted) + dropped == 81  # every event fitted or counted as discarded
    assert fitted == sorted(fitted) and fitted[-1] == 81  # oldest first; the newest kept
    assert dropped >= 50  # ~2 fits per second against 40 arrivals per second
    # the backlog is cut to 3 at each claim and grows by what arrives during one fit (~0.5 s)
    assert peak[0] <= 3 + 40
    status = status_json(dsn)["tally"]
    assert status["backlog"]["discarded"] == dropped
    print(f"\nfast producer: 80 events in 2 s, fit 0.5 s per event: {len(fitted) - 1} fitted, "
          f"{dropped} discarded, peak backlog {peak[0]}")  # fmt: skip


def test_discards_are_counted_by_the_metrics_collector(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    tally(conn, "keep_latest = 2")
    produce(conn, range(1, 8))
    Worker(dsn, poll_interval=0.05).run(once=True)
    collector = CatalogCollector(dsn)
    try:
        families = {f.name: f for f in collector.collect()}
    finally:
        collector.close()
    samples = {
        (s.labels["trigger"], s.labels["reason"]): s.value
        for s in families["motion_events_discarded"].samples
        if s.name == "motion_events_discarded_total"
    }
    assert samples == {("tally", "keep_latest"): 5.0, ("tally", "discard_after"): 0.0}


def test_scheduled_firings_and_running_events_are_never_discarded(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    tally(conn, "keep_latest = 1")
    produce(conn, range(1, 4))
    conn.execute(
        "INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data)"
        " VALUES ('tally', 99, '', 'SCHEDULE', '{}')"
    )
    conn.execute("UPDATE motion.jobs SET state = 'running' WHERE row_data->>'value' = '1'")
    motion_pg.execute(conn, "ALTER MOTION TRIGGER tally DISABLE")  # a disabled trigger: untouched
    from motion_pg.worker.backpressure import Shedder

    with psycopg.connect(dsn, autocommit=True) as w:
        assert Shedder().step(w) == 0
        motion_pg.execute(conn, "ALTER MOTION TRIGGER tally ENABLE")
        assert Shedder().step(w) == 1  # value 2; value 3 is the newest, 1 is running
    left = conn.execute("SELECT op, row_data->>'value', state FROM motion.jobs ORDER BY id")
    assert left.fetchall() == [
        ("INSERT", "1", "running"), ("INSERT", "3", "pending"), ("SCHEDULE", None, "pending"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("discard_after = 0", "more than zero seconds"),
        ("discard_after = 'soon'", "interval such as"),
        ("keep_latest = 0", "positive integer"),
        ("keep_latest = '5'", "positive integer"),
    ],
)
def test_bad_backpressure_settings_are_refused(
    conn: psycopg.Connection[Any], params: str, message: str
) -> None:
    conn.execute("CREATE TABLE tally (id serial PRIMARY KEY, value int NOT NULL)")
    with pytest.raises(InvalidSetting, match=message):
        motion_pg.execute(
            conn,
            f"CREATE MOTION TRIGGER tally ON tally USING 'motion_test_apps.chaos:Tally'"
            f" WITH ({params})",
        )


def test_alter_set_and_reset_a_policy(conn: psycopg.Connection[Any], dsn: str) -> None:
    tally(conn)
    motion_pg.execute(conn, "ALTER MOTION TRIGGER tally SET (keep_latest = 2)")
    produce(conn, range(1, 5))
    motion_pg.execute(conn, "ALTER MOTION TRIGGER tally SET (keep_latest = NULL)")
    produce(conn, range(5, 8))
    Worker(dsn, poll_interval=0.05).run(once=True)
    assert state(conn, "tally")["ids"] == list(range(1, 8))  # reset before any claim: all kept
