"""State freshness at a trickle (issue 15 goal 6, P3): what one event costs the worker's
connection, and that nothing waits for a poll between a notification and its claim. Not timed: a
poll interval of an hour turns any such wait into a test timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.worker import Worker, claiming
from motion_pg.worker.committing import Claim

from .conftest import state

APP = "motion_test_apps.fitcall:Counted"
HOUR = 3600.0


def fitted(conn: psycopg.Connection[Any], n: int, timeout: float = 20.0) -> None:
    """Wait until trigger ``trickle`` has folded ``n`` events."""
    deadline = time.monotonic() + timeout
    while state(conn, "trickle").get("n") != n:
        assert time.monotonic() < deadline, f"{n} events not fitted within {timeout:g} s"
        time.sleep(0.005)


class Running:
    """A worker running in a thread (its fit process is a child process)."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        worker._connected()  # connected, fit process started: the test may trace the connection
        self.thread = threading.Thread(target=worker.run, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.worker.stop()
        self.worker.stopping = True
        assert self.worker._listener is not None
        with psycopg.connect(self.worker.dsn, autocommit=True) as c:
            c.execute("NOTIFY motion_jobs")  # wake its wait
        self.thread.join(30)
        assert not self.thread.is_alive()


@pytest.fixture
def trickle(conn: psycopg.Connection[Any]) -> Iterator[None]:
    conn.execute("CREATE TABLE trickle (id serial PRIMARY KEY, x int)")
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER trickle ON trickle USING '{APP}'")
    yield


def test_a_trickle_event_costs_one_claim_step(
    conn: psycopg.Connection[Any], dsn: str, trickle: None
) -> None:
    # the claim step is the worker's costly statement (~0.6 ms of server time for one event):
    # after a fit the worker asks a cheap question (anything ready?) instead of claiming again
    running = Running(Worker(dsn, poll_interval=HOUR, infer_threads=0))
    try:
        while running.worker.claimer.steps == 0:  # its first claim, at start, found nothing
            time.sleep(0.005)
        time.sleep(0.05)
        before = running.worker.claimer.steps
        n = 8
        for i in range(1, n + 1):
            conn.execute("INSERT INTO trickle (x) VALUES (%s)", [i])
            fitted(conn, i)
            time.sleep(0.02)
        steps = running.worker.claimer.steps - before
    finally:
        running.stop()
    assert steps == n, f"{steps} claim steps for {n} trickle events"


class _LateEvent(Worker):
    """A worker that, right after deciding nothing is ready, sees an event commit before it
    waits: the race between the readiness question and the wait."""

    inserted = 0

    def _settled(self, conn: psycopg.Connection[Any], claim: Claim) -> bool:
        settled = super()._settled(conn, claim)
        if settled and self.inserted < 3:
            self.inserted += 1
            with psycopg.connect(self.dsn, autocommit=True) as c:
                c.execute("INSERT INTO trickle (x) VALUES (0)")
        return settled


def test_an_event_committed_after_the_readiness_check_is_claimed_at_once(
    conn: psycopg.Connection[Any], dsn: str, trickle: None
) -> None:
    worker = _LateEvent(dsn, poll_interval=HOUR, infer_threads=0)
    running = Running(worker)
    try:
        conn.execute("INSERT INTO trickle (x) VALUES (1)")
        fitted(conn, 4)  # the first event and the three the race inserted, none waiting a poll
    finally:
        running.stop()


def test_no_poll_sits_between_a_notification_and_its_claim(
    conn: psycopg.Connection[Any], dsn: str, trickle: None
) -> None:
    # events commit at all moments of the worker's loop: during a fit, during its readiness
    # question, while it waits; a batch the budget cuts is claimed again without a notification
    running = Running(Worker(dsn, poll_interval=HOUR, infer_threads=0, fit_batch=2))
    try:
        total = 0
        for i in range(30):
            rows = 1 + i % 3 * 2  # 1, 3, 5 rows in one transaction: one notification
            conn.execute("INSERT INTO trickle (x) SELECT g FROM generate_series(1, %s) g", [rows])
            total += rows
            time.sleep(0.001 * (i % 7))
        fitted(conn, total)
    finally:
        running.stop()


def test_the_time_gated_steps_still_run_at_a_steady_trickle(
    conn: psycopg.Connection[Any], dsn: str, trickle: None
) -> None:
    # woken by a notification, the worker claims first; its leases, schedules and drift checks
    # run after the fit instead, so a trickle that always wakes it never starves them
    calls = []

    class Counting(Worker):
        def _time_gated(self, conn: psycopg.Connection[Any]) -> None:
            calls.append(time.monotonic())
            super()._time_gated(conn)

    running = Running(Counting(dsn, poll_interval=HOUR, infer_threads=0))
    try:
        fitted(conn, 0)
        before = len(calls)
        for i in range(1, 6):
            conn.execute("INSERT INTO trickle (x) VALUES (%s)", [i])
            fitted(conn, i)
    finally:
        running.stop()
    assert len(calls) - before >= 5


def test_no_statement_runs_between_a_claim_and_its_fit(
    conn: psycopg.Connection[Any], dsn: str, trickle: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the code gate's comparison and the settings' re-read are time-gated: at a trickle they came
    # due between a claim and the hand-off of its events to the fit process, one event in so many
    # ttl and the gate's interval 2 s, an event every ~1.2 s: each fit's end reads both again (half
    # their time is up), and the claim after it finds them ~1.2 s old, 0.8 s short of due however
    # loaded the machine; the claim after next would find them due if the fit's end had not
    monkeypatch.setattr(claiming, "SETTINGS_TTL", 2.0)
    worker = Worker(dsn, poll_interval=HOUR, infer_threads=0)
    worker.code_gate.interval = 2.0
    running = Running(worker)
    wconn, sent = worker._conn, []
    execute = psycopg.Cursor.execute

    def traced(cur: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        if cur.connection is wconn:
            sent.append(str(query))
        return execute(cur, query, *args, **kwargs)

    fit_process = worker.fit_process
    assert fit_process is not None
    run, step = fit_process.run, worker.claimer._step

    def stepped(c: psycopg.Connection[Any]) -> Any:
        names, rows = step(c)
        sent.append("-- claimed" if rows else "-- nothing ready")
        return names, rows

    def handed(claim: Claim, *args: Any, **kwargs: Any) -> Any:
        sent.append("-- handed to the fit process")
        return run(claim, *args, **kwargs)

    try:
        # the first claim of a trigger compares its code and reads its settings: before its fit
        conn.execute("INSERT INTO trickle (x) VALUES (0)")
        fitted(conn, 1)
        monkeypatch.setattr(psycopg.Cursor, "execute", traced)
        monkeypatch.setattr(fit_process, "run", handed)
        monkeypatch.setattr(worker.claimer, "_step", stepped)
        for i in range(2, 8):
            time.sleep(1.2)
            conn.execute("INSERT INTO trickle (x) VALUES (%s)", [i])
            fitted(conn, i)
    finally:
        running.stop()
    between, claimed = [], False
    for text in sent:
        if text.startswith("--"):
            claimed = text == "-- claimed"
        elif claimed and "claim_step" not in text:
            between.append(text.strip().splitlines()[0])
    assert sent.count("-- handed to the fit process") == 6
    assert between == []
