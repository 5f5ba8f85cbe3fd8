"""Backfill, continued (issue 11 item 2): the worker drives the runs CREATE … WITH (backfill =
true) leaves, resumably; two sessions starting a run at once; array outputs; the CLI's progress."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import DefinitionError
from motion_pg.worker import Worker

from .conftest import motion_pg_cli
from .test_backfill import ITEMS, jobs, one, scaler

APP = "motion_test_apps.backfill"


@pytest.fixture
def worker(dsn: str) -> Iterator[Worker]:
    """A worker running in a thread, stopped after the test."""
    w = Worker(dsn, poll_interval=0.05, infer_threads=0)
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    yield w
    w.stop()
    thread.join(30)


def wait_done(conn: psycopg.Connection[Any], seconds: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        row = conn.execute(
            "SELECT id, state, visited, inferred, chunks, by_worker FROM motion.backfills"
            " ORDER BY id DESC LIMIT 1"
        ).fetchone()
        assert row is not None
        if row[1] != "running":
            names = ("id", "state", "visited", "inferred", "chunks", "by_worker")
            return dict(zip(names, row, strict=True))
        assert time.monotonic() < deadline, f"backfill run still running: {row}"
        time.sleep(0.1)


def test_the_worker_finishes_the_run_create_left(
    conn: psycopg.Connection[Any], worker: Worker
) -> None:
    conn.execute(ITEMS)
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 10050) g")
    [line] = motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER s ON items USING '{APP}:Scaler' WITH (backfill = true)"
    )
    assert "10050 rows left to the worker" in line
    run = wait_done(conn)
    assert run == {"id": 1, "state": "done", "visited": 10050, "inferred": 10050, "chunks": 11,
                   "by_worker": True}  # fmt: skip
    # every row inferred once with the serving version, and no fit event for any of them
    assert one(conn, "SELECT count(*) FROM items WHERE hits = 1 AND out = value * 2") == 10050
    assert jobs(conn) == 0


def test_a_run_started_from_sql_is_left_to_its_session(
    conn: psycopg.Connection[Any], worker: Worker
) -> None:
    conn.execute(ITEMS)
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 100) g")
    scaler(conn)
    conn.execute("SELECT motion.backfill_start('s')")
    time.sleep(1.0)  # the worker looks, and leaves it alone
    assert one(conn, "SELECT visited FROM motion.backfills") == 0


def test_a_killed_worker_leaves_the_run_where_its_last_chunk_committed(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    """kill -9 of a worker mid-run, then another worker: no chunk done twice, no row skipped."""
    conn.execute(ITEMS)
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 3500) g")
    scaler(conn, sleep=0.0005)  # ~0.5 s or more per chunk of 1000 rows
    run = one(conn, "SELECT (motion.backfill_start('s') ->> 'id')::int")
    conn.execute("UPDATE motion.backfills SET by_worker = true")  # as CREATE leaves a large run
    proc = subprocess.Popen(
        [sys.executable, "-m", "motion_pg.cli", "worker", "--poll-interval", "0.05"],
        env={**os.environ, "MOTION_DSN": dsn}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while one(conn, "SELECT visited FROM motion.backfills") < 1000:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # the chunk the server was running when the worker died may still commit: wait for calm
    while one(conn, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%backfill_step%'"
              " AND pid <> pg_backend_pid() AND state = 'active'"):  # fmt: skip
        time.sleep(0.05)
    visited = one(conn, "SELECT visited FROM motion.backfills")
    assert 1000 <= visited < 3500
    assert one(conn, "SELECT count(*) FROM items WHERE hits = 1") == visited
    assert one(conn, "SELECT count(*) FROM items WHERE hits IS NULL") == 3500 - visited
    w = Worker(dsn, poll_interval=0.05, infer_threads=0)
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    try:
        done = wait_done(conn)
    finally:
        w.stop()
        thread.join(30)
    assert (done["id"], done["state"], done["visited"]) == (run, "done", 3500)
    assert one(conn, "SELECT count(*) FROM items WHERE hits = 1 AND out = value * 2") == 3500
    assert jobs(conn) == 0


def test_two_sessions_starting_a_run_at_once(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(ITEMS)
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 100) g")
    scaler(conn)
    first = psycopg.connect(dsn)
    first.execute("SELECT motion.backfill_start('s')")  # not committed yet
    errors: list[BaseException] = []

    def second() -> None:
        with psycopg.connect(dsn, autocommit=True) as c:
            try:
                c.execute("SELECT motion.backfill_start('s', true)")
            except psycopg.Error as e:
                errors.append(e)

    thread = threading.Thread(target=second)
    thread.start()
    deadline = time.monotonic() + 60
    while not one(conn, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                  " AND query LIKE '%backfill_start%'"):  # fmt: skip
        assert time.monotonic() < deadline, "the second session never waited on the first"
        time.sleep(0.05)  # the second waits on the first's uncommitted run
    first.commit()
    first.close()
    thread.join(30)
    [error] = errors
    assert isinstance(error, psycopg.Error) and error.sqlstate == DefinitionError.sqlstate
    assert (error.diag.message_primary or "").removeprefix("plpy.Error: ") == (
        'motion trigger "s": backfill run 1 (ALL) was started by postgres at the same moment and '
        "is running (0 of 100 rows visited)"
    )
    assert "motion-pg backfill s" in (error.diag.message_hint or "")


def test_array_outputs_get_a_hint_that_fits_backfill(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE tagged (id int PRIMARY KEY, value int, tags int[])")
    conn.execute("INSERT INTO tagged (id, value) SELECT g, g FROM generate_series(1, 5) g")
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER t ON tagged USING 'motion_test_apps.backfill_worker:Tagger'"
    )
    conn.execute("INSERT INTO tagged (id, value) VALUES (6, 6)")  # row by row: arrays are fine
    assert one(conn, "SELECT tags FROM tagged WHERE id = 6") == [6, 12]
    run = one(conn, "SELECT (motion.backfill_start('t') ->> 'id')::int")
    with pytest.raises(psycopg.Error) as e:
        conn.execute("SELECT motion.backfill_step(%s)", [run])
    assert (e.value.diag.message_primary or "").removeprefix("plpy.Error: ") == (
        'motion trigger "t": backfill cannot write array column "tags" of public.tagged: each '
        "chunk is written back with one UPDATE from arrays, and Postgres has no arrays of arrays"
    )
    hint = e.value.diag.message_hint or ""
    assert 'store "tags" as jsonb' in hint and "UPDATE public.tagged SET" in hint
    assert "infer_mode" not in hint  # batch mode's hint does not apply to a backfill


def test_the_cli_shows_progress_and_rate(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(ITEMS)
    conn.execute("INSERT INTO items (value) SELECT g FROM generate_series(1, 300) g")
    scaler(conn)
    # not a terminal: a progress line with the rate (every --say-every seconds)
    out = motion_pg_cli("backfill", "s", "--chunk", "50", "--say-every", "0", dsn=dsn)
    lines = [x for x in out.stderr.splitlines() if x.startswith("backfilling s:")]
    assert len(lines) >= 5
    assert re.fullmatch(r"backfilling s: 300/300 rows \([\d,]+ rows/s\)", lines[-1])
    assert re.search(r"done: 300 rows visited, 300 inferred, in 7 chunks \([\d,]+ rows/s\)",
                     out.stdout)  # fmt: skip
    # a terminal: a progress bar with the rate
    tty = subprocess.run(
        [sys.executable, "-m", "motion_pg.cli", "backfill", "s", "--chunk", "50"],
        env={**os.environ, "MOTION_DSN": dsn, "TTY_COMPATIBLE": "1", "COLUMNS": "160"},
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    plain = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", tty.stderr)  # without the terminal's escapes
    assert "backfilling s" in plain and re.search(r"300/300 rows\s+[\d,]+ rows/s", plain)
