"""Group commit of one-event fit calls (issue 15 goal 3): with ``fit_batch = 1`` a claim of
several pending events is fitted one slice at a time, a version, a run and a lineage per slice,
and committed in one transaction; a failing slice fails alone, and a fit process killed mid-group
commits nothing."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.pg import connect
from motion_pg.worker import Worker
from motion_pg.worker.fitting import FitComputer

from .conftest import state
from .protocol_trace import sent

APP = "motion_test_apps.group_commit:Folded"


@pytest.fixture
def table(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE grouped (id serial PRIMARY KEY, x int)")
    conn.execute("CREATE TABLE group_log (x int)")


def create(conn: psycopg.Connection[Any], params: str = "") -> None:
    with_ = f" WITH ({params})" if params else ""
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER grouped ON grouped USING '{APP}'{with_}")


def versions(conn: psycopg.Connection[Any]) -> list[tuple[int, int, str]]:
    """(version, run, the writing transaction) of every fitted version, oldest first."""
    rows = conn.execute(
        "SELECT version, run_id, xmin::text FROM motion.versions"
        " WHERE trigger_name = 'grouped' AND source = 'fit' ORDER BY version"
    ).fetchall()
    return [(int(v), int(r), str(x)) for v, r, x in rows]


def lineage_xs(conn: psycopg.Connection[Any], version: int) -> list[int]:
    rows = conn.execute(
        "SELECT (row_data ->> 'x')::int FROM motion.version_events('grouped', %s) ORDER BY job_id",
        [version],
    ).fetchall()
    return [int(r[0]) for r in rows]


def commits(conn: psycopg.Connection[Any], action: Any) -> int:
    """How many COMMITs ``conn`` sent while ``action`` ran (libpq's protocol trace)."""
    return sum(1 for f in sent(conn, action) if any('"COMMIT"' in x for x in f[3:]))


def test_a_group_makes_a_version_run_and_lineage_per_event_in_one_commit(
    conn: psycopg.Connection[Any], dsn: str, table: None
) -> None:
    create(conn)
    conn.execute("INSERT INTO grouped (x) SELECT g FROM generate_series(1, 6) g")
    worker = Worker(dsn, fit_batch=1, infer_threads=0)
    claim = worker.claim(worker._connected())
    assert claim is not None
    assert len(claim.events) == 6, "one claim takes every pending event: six fit calls' worth"
    claim.group_seconds = 60.0  # however loaded the machine, no slice is left for later
    computer = FitComputer(connect(dsn, autocommit=True))
    count = commits(computer.conn, lambda: computer.fit(claim))
    assert count == 1, f"the group commits once, sent {count} COMMITs"
    made = versions(conn)
    assert [v for v, _, _ in made] == [2, 3, 4, 5, 6, 7]
    assert len({r for _, r, _ in made}) == 6, f"a run per version: {made}"
    assert len({x for _, _, x in made}) == 1, f"one transaction wrote them all: {made}"
    for n, (v, _, _) in enumerate(made, start=1):
        assert lineage_xs(conn, v) == [n], f"version {v} was built by event x={n} alone"
        assert state(conn, "grouped", v)["seen"] == list(range(1, n + 1))
    runs = conn.execute(
        "SELECT jobs, state, version_after FROM motion.runs WHERE trigger_name = 'grouped'"
        " ORDER BY id"
    ).fetchall()
    assert runs == [(1, "succeeded", v) for v, _, _ in made]
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (0,)
    assert conn.execute("SELECT x FROM group_log ORDER BY x").fetchall() == [
        (x,) for x in range(1, 7)
    ]
    # the fit process folds the next group onto the state it kept, and a lone event is a call
    conn.execute("INSERT INTO grouped (x) VALUES (7)")
    again = worker.claim(worker._connected())
    assert again is not None and len(again.events) == 1
    assert computer.fit(again) == 8
    assert state(conn, "grouped")["seen"] == list(range(1, 8))


def test_a_failing_slice_fails_alone_and_its_writes_roll_back(
    conn: psycopg.Connection[Any], dsn: str, table: None
) -> None:
    create(conn, "bad = 3, max_attempts = 1, fit_batch_time = 60")
    conn.execute("INSERT INTO grouped (x) SELECT g FROM generate_series(1, 5) g")
    worker = Worker(dsn, fit_batch=1, infer_threads=0, poll_interval=0.1)
    worker.run(once=True)
    made = versions(conn)
    assert [v for v, _, _ in made] == [2, 3, 4, 5]
    assert [lineage_xs(conn, v) for v, _, _ in made] == [[1], [2], [4], [5]]
    assert state(conn, "grouped")["seen"] == [1, 2, 4, 5]
    # 1 and 2 were one group's commit, 4 and 5 the next group's (after 3 failed alone)
    assert made[0][2] == made[1][2] and made[2][2] == made[3][2] and made[1][2] != made[2][2]
    dead = conn.execute(
        "SELECT (row_data ->> 'x')::int, attempts, errors::text FROM motion.jobs"
        " WHERE trigger_name = 'grouped'"
    ).fetchall()
    assert len(dead) == 1 and dead[0][:2] == (3, 1), dead
    assert "ValueError: bad event x=3" in dead[0][2] and "Traceback" in dead[0][2]
    done = conn.execute(
        "SELECT (row_data ->> 'x')::int, attempts FROM motion.job_log ORDER BY id"
    ).fetchall()
    assert done == [(1, 1), (2, 1), (4, 1), (5, 1)], "handed-back events were not charged"
    # the failed slice's ctx.db write rolled back, the committed slices' kept
    assert conn.execute("SELECT x FROM group_log ORDER BY x").fetchall() == [(1,), (2,), (4,), (5,)]
    failed = conn.execute(
        "SELECT r.state, r.jobs, r.error LIKE '%ValueError%' FROM motion.runs r"
        " WHERE r.trigger_name = 'grouped' AND r.state <> 'succeeded'"
    ).fetchall()
    assert failed == [("failed", 1, True)]


def test_a_fit_process_killed_mid_group_commits_nothing(
    conn: psycopg.Connection[Any], dsn: str, table: None
) -> None:
    marker = Path(tempfile.mkdtemp()) / "hang"
    create(conn, f"hang = '{marker}', hang_at = 3, fit_batch_time = 60")
    conn.execute("INSERT INTO grouped (x) SELECT g FROM generate_series(1, 5) g")
    worker = Worker(dsn, fit_batch=1, infer_threads=0, poll_interval=0.1)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():  # slices 1 and 2 are fitted, 3 hangs: nothing committed
            assert time.monotonic() < deadline, "the fit never reached event 3"
            time.sleep(0.02)
        assert versions(conn) == [], "nothing of the group is committed before it ends"
        assert worker.fit_process is not None and worker.fit_process._proc is not None
        os.kill(worker.fit_process._proc.pid, signal.SIGKILL)
        while len(versions(conn)) < 5:
            assert time.monotonic() < deadline, f"not refolded: {versions(conn)}"
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(30)
    made = versions(conn)
    assert [lineage_xs(conn, v) for v, _, _ in made] == [[1], [2], [3], [4], [5]]
    assert state(conn, "grouped")["seen"] == [1, 2, 3, 4, 5], "every event folded once"
    done = conn.execute(
        "SELECT (row_data ->> 'x')::int, attempts FROM motion.job_log ORDER BY id"
    ).fetchall()
    assert done == [(x, 1) for x in range(1, 6)], "the killed group's events were not charged"
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (0,)
    # the killed group's writes died with it: each event's ctx.db write is there once
    assert conn.execute("SELECT x FROM group_log ORDER BY x").fetchall() == [
        (x,) for x in range(1, 6)
    ]
