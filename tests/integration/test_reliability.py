"""The reliability suite: real worker processes, real faults, and an exactly-once invariant.

Every scenario ends with :func:`check`: each committed event was fitted exactly once (the tally's
count equals the committed rows and its id list holds each committed id once), none lost, none
doubled, rolled-back rows never fitted, and the version history is a serial fold (each fit version
adds exactly its run's events to its parent).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg

from .conftest import RELIABILITY, ROOT, state

pytestmark = pytest.mark.chaos

LEASE = 1.0


def create_tally(conn: psycopg.Connection[Any], name: str, params: str = "") -> None:
    conn.execute(f"CREATE TABLE {name} (id serial PRIMARY KEY, value int NOT NULL)")
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER {name} ON {name} USING 'motion_test_apps.chaos:Tally' "
        f"WITH (max_attempts = 50, retry_delay = 0.05{', ' + params if params else ''})",
    )


# each worker's output goes to a file: a pipe nobody reads until teardown fills up and blocks a
# chatty worker mid-fit, holding its run
_LOGS: dict[int, Path] = {}


def start_worker(dsn: str, *extra: str) -> subprocess.Popen[str]:
    """A real ``motion-pg worker`` process; :func:`worker_log` reads what it printed."""
    with tempfile.NamedTemporaryFile(
        "w", prefix="motion-worker-", suffix=".log", delete=False
    ) as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "motion_pg.cli", "worker", "--dsn", dsn, "--lease", str(LEASE),
             "--poll-interval", "0.2", *extra],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
    _LOGS[proc.pid] = Path(out.name)
    return proc


def worker_log(proc: subprocess.Popen[str]) -> str:
    """What the worker ``proc`` has printed so far."""
    path = _LOGS.get(proc.pid)
    return path.read_text(errors="replace") if path is not None and path.exists() else ""


def kill(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    proc.wait(30)


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        kill(p)
        print(f"--- worker {p.pid} output ---\n{worker_log(p)}")  # shown when the test failed
        _LOGS.pop(p.pid).unlink(missing_ok=True)


def wait_until(predicate: Any, timeout: float = 60.0, step: float = 0.05) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
    return time.monotonic() - start


def drained(conn: psycopg.Connection[Any], name: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM motion.jobs WHERE trigger_name = %s AND state IN ('pending', 'running')",
        [name],
    ).fetchone()
    return row is not None and row[0] == 0


def check(conn: psycopg.Connection[Any], name: str, scenario: str, recovery: list[float],
          expect_unfitted: set[int] = frozenset(),  # type: ignore[assignment]
          writers: int = 1) -> None:  # fmt: skip
    """The exactly-once invariant. Events are fitted in commit order, so with one writer that is
    id order; with concurrent ``writers`` (the value's hundred-thousands say which) it is id order
    per writer, since a lower id may commit later."""
    committed = {r[0] for r in conn.execute(f"SELECT id FROM {name}")}
    writer_of = dict(conn.execute(f"SELECT id, value / 100000 FROM {name}").fetchall())
    fitted = state(conn, name)["ids"]
    expected = committed - set(expect_unfitted)
    lost = len(expected - set(fitted))
    duplicated = len(fitted) - len(set(fitted))
    foreign = len(set(fitted) - committed)  # e.g. a rolled-back row
    RELIABILITY.append({
        "scenario": scenario, "committed": len(committed), "fitted": len(set(fitted)),
        "lost": lost, "duplicated": duplicated, "rolled_back_fitted": foreign,
        "recovery_p50_s": sorted(recovery)[len(recovery) // 2] if recovery else None,
        "recovery_max_s": max(recovery) if recovery else None,
    })  # fmt: skip
    assert (lost, duplicated, foreign) == (0, 0, 0)
    assert state(conn, name)["count"] == len(fitted)
    for writer in range(writers):  # oldest first
        mine = [i for i in fitted if writers == 1 or writer_of[i] == writer]
        assert mine == sorted(mine)
    # the version history is a serial fold of the runs, wherever retention (keep_versions) kept
    # both a version's state and its parent's: a pruned version keeps its row, not its entries
    history = conn.execute(
        "SELECT v.version, v.parent_version, r.jobs FROM motion.versions v"
        " JOIN motion.runs r ON r.id = v.run_id"
        " LEFT JOIN motion.versions p ON p.trigger_name = v.trigger_name"
        " AND p.version = v.parent_version"
        " WHERE v.trigger_name = %s AND v.source = 'fit' AND v.pruned_at IS NULL"
        " AND p.pruned_at IS NULL ORDER BY v.version", [name],
    ).fetchall()  # fmt: skip
    assert history, f"{name}: no version of the history is kept"
    for version, parent, jobs in history:
        assert state(conn, name, version)["count"] == state(conn, name, parent)["count"] + jobs


def test_sigkill_mid_fit_20_times(conn: psycopg.Connection[Any], dsn: str, tmp_path: Path,
                                  workers: list[subprocess.Popen[str]]) -> None:  # fmt: skip
    marker = tmp_path / "fits"
    marker.touch()
    os.chmod(tmp_path, 0o777)
    create_tally(conn, "tally", f"fit_sleep = 0.5, fit_batch = 1, marker = '{marker}'")
    recovery = []
    for i in range(20):
        conn.execute("INSERT INTO tally (value) VALUES (%s)", [i])
        proc = start_worker(dsn)
        seen = len(marker.read_text().splitlines())
        wait_until(lambda s=seen: len(marker.read_text().splitlines()) > s)  # a fit started
        kill(proc)  # the worker and its fit process, mid-fit
        killed_at = time.monotonic()
        workers.append(start_worker(dsn))
        wait_until(lambda: drained(conn, "tally"))
        recovery.append(time.monotonic() - killed_at)
        kill(workers.pop())
    check(conn, "tally", "SIGKILL worker mid-fit x20", recovery)
    attempts = conn.execute("SELECT max(attempts) FROM motion.job_history").fetchone()
    assert attempts is not None and attempts[0] >= 2  # each reclaim counted an attempt


def test_competing_workers_and_writers(conn: psycopg.Connection[Any], dsn: str,
                                       workers: list[subprocess.Popen[str]]) -> None:  # fmt: skip
    names = ["t1", "t2", "t3"]
    for n in names:
        create_tally(conn, n, "fit_batch = 7")
    workers.extend(start_worker(dsn) for _ in range(3))

    def writer(seed: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as w:
            for i in range(60):
                name = names[(seed + i) % 3]
                with w.transaction(force_rollback=(i % 10 == 0)):
                    w.execute(
                        f"INSERT INTO {name} (value) SELECT %s + g FROM generate_series(1, 3) g",
                        [seed * 100000 + i * 10],
                    )

    threads = [threading.Thread(target=writer, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in names:
        wait_until(lambda n=n: drained(conn, n))
        check(conn, n, f"3 workers x 3 triggers, 4 writers ({n})", [], writers=4)


def test_postgres_restart_under_load(conn: psycopg.Connection[Any], dsn: str, pg_cluster: Any,
                                     workers: list[subprocess.Popen[str]]) -> None:  # fmt: skip
    create_tally(conn, "tally", "fit_sleep = 0.05")
    workers.append(start_worker(dsn))
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            try:
                with psycopg.connect(dsn, autocommit=True, connect_timeout=2) as w:
                    while not stop.is_set():
                        w.execute("INSERT INTO tally (value) VALUES (1)")
                        time.sleep(0.01)
            except psycopg.OperationalError:
                time.sleep(0.1)

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(1.0)
    # the worker has connected and fitted before the restart: a worker that cannot connect at
    # start exits (a wrong dsn fails at once), which a slow start under load ran into
    wait_until(lambda: conn.execute("SELECT count(*) FROM motion.runs WHERE state = 'succeeded'")
               .fetchone() != (0,), 120)  # fmt: skip
    pg_cluster.stop()
    pg_cluster.start()
    up = time.monotonic()
    time.sleep(1.0)
    stop.set()
    t.join()
    with psycopg.connect(dsn, autocommit=True) as c:
        # generous: reconnects back off up to 5 s, and a loaded host is slow
        wait_until(lambda: drained(c, "tally"), timeout=180)
        recovered = time.monotonic() - up
        check(c, "tally", "Postgres restart under load", [recovered])


def test_listen_connection_terminated(conn: psycopg.Connection[Any], dsn: str,
                                      workers: list[subprocess.Popen[str]]) -> None:  # fmt: skip
    create_tally(conn, "tally")
    workers.append(start_worker(dsn))
    conn.execute("INSERT INTO tally (value) VALUES (1)")
    wait_until(lambda: drained(conn, "tally"))
    recovery = []
    for _ in range(3):
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name LIKE 'motion-pg %'"
        ).fetchone()
        assert killed is not None and killed[0] >= 2
        start = time.monotonic()
        conn.execute("INSERT INTO tally (value) VALUES (2)")
        wait_until(lambda: drained(conn, "tally"))
        recovery.append(time.monotonic() - start)
    check(conn, "tally", "pg_terminate_backend on worker connections x3", recovery)


def test_poisoned_event_goes_dead_and_later_events_still_fit(
    conn: psycopg.Connection[Any], dsn: str, workers: list[subprocess.Popen[str]]
) -> None:
    create_tally(conn, "tally", "fit_batch = 1, poison = 13")
    conn.execute("UPDATE motion.triggers SET settings.max_attempts = 3")
    before = state(conn, "tally")
    conn.execute("INSERT INTO tally (value) VALUES (13)")
    poisoned = conn.execute("SELECT max(id) FROM tally").fetchone()
    assert poisoned is not None
    conn.execute("INSERT INTO tally (value) SELECT g FROM generate_series(1, 5) g")
    workers.append(start_worker(dsn))
    wait_until(lambda: drained(conn, "tally"))
    row = conn.execute("SELECT state, attempts, jsonb_array_length(errors) FROM motion.jobs"
                       " WHERE row_data->>'value' = '13'").fetchone()  # fmt: skip
    assert row == ("dead", 3, 3)
    assert before["count"] == 0
    check(
        conn,
        "tally",
        "fit that always fails (dead, later events fitted)",
        [],
        expect_unfitted={poisoned[0]},
    )


def test_fit_that_kills_its_process_is_bounded(
    conn: psycopg.Connection[Any], dsn: str, workers: list[subprocess.Popen[str]]
) -> None:
    create_tally(conn, "tally", "fit_batch = 1, lethal = 13")
    conn.execute("UPDATE motion.triggers SET settings.max_attempts = 3")
    conn.execute("INSERT INTO tally (value) VALUES (13)")
    lethal = conn.execute("SELECT max(id) FROM tally").fetchone()
    assert lethal is not None
    conn.execute("INSERT INTO tally (value) VALUES (1), (2)")
    proc = start_worker(dsn)
    workers.append(proc)
    wait_until(lambda: drained(conn, "tally"))
    assert proc.poll() is None  # the worker survived its fit process' deaths
    row = conn.execute("SELECT state, attempts, errors -> -1 ->> 'error' FROM motion.jobs"
                       " WHERE row_data->>'value' = '13'").fetchone()  # fmt: skip
    assert row is not None and row[:2] == ("dead", 3) and "SIGKILL" in row[2]
    check(
        conn, "tally", "fit that kills its own process (bounded)", [], expect_unfitted={lethal[0]}
    )


def test_sigterm_hands_back_without_spending_an_attempt(
    conn: psycopg.Connection[Any], dsn: str, tmp_path: Path, workers: list[subprocess.Popen[str]]
) -> None:
    marker = tmp_path / "fits"
    marker.touch()
    os.chmod(tmp_path, 0o777)
    create_tally(conn, "tally", f"fit_sleep = 30, marker = '{marker}'")
    conn.execute("INSERT INTO tally (value) VALUES (1)")
    proc = start_worker(dsn, "--grace", "0.5")
    wait_until(lambda: marker.read_text() != "")
    start = time.monotonic()
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(30) == 0
    assert time.monotonic() - start < 10
    row = conn.execute("SELECT state, attempts FROM motion.jobs").fetchone()
    assert row == ("pending", 0)
    conn.execute("UPDATE motion.triggers SET params = params - 'fit_sleep'")
    conn.execute("UPDATE motion.triggers SET revision = nextval('motion.revisions')")
    workers.append(start_worker(dsn))
    wait_until(lambda: drained(conn, "tally"))
    check(conn, "tally", "SIGTERM mid-fit: handed back, refitted", [])
