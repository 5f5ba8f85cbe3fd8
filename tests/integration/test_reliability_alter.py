"""Concurrent ALTERs while a worker fits and writers insert (issue 9 item 7).

Every state change — a fit, ALTER SET, ROLLBACK, REFIT — is a serial fold on the current version:
each version's parent is the version before it, no fit is lost from the serving state, no SET's
params vanish, and every row is inferred with the params recorded for the version it served.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import threading
from typing import Any

import psycopg
import pytest

import motion_pg

from .conftest import RELIABILITY
from .test_reliability import drained, start_worker, wait_until, workers

__all__ = ["workers"]

pytestmark = pytest.mark.chaos

ADMINS, ALTERS, WRITERS, ROWS = 3, 40, 2, 150


def test_concurrent_alter_set_with_fits_and_writers(
    conn: psycopg.Connection[Any], dsn: str, workers: list[subprocess.Popen[str]]
) -> None:
    conn.execute(
        "CREATE TABLE echo (id serial PRIMARY KEY, value int NOT NULL, seen_version int,"
        " seen_params text)"
    )
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER echo ON echo USING 'motion_test_apps.compiler:ParamsEcho'"
        " WITH (fit_batch = 3)",
    )
    workers.append(start_worker(dsn))
    failures: list[BaseException] = []

    def admin(n: int) -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as c:
                for i in range(ALTERS):
                    motion_pg.execute(c, f"ALTER MOTION TRIGGER echo SET (k{n} = {i})")
        except BaseException as e:  # reported by the main thread
            failures.append(e)

    def writer(n: int) -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as c:
                for i in range(ROWS):
                    c.execute("INSERT INTO echo (value) VALUES (%s)", [n * 100000 + i])
        except BaseException as e:
            failures.append(e)

    threads = [threading.Thread(target=admin, args=(n,)) for n in range(ADMINS)]
    threads += [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    wait_until(lambda: drained(conn, "echo"), timeout=120)

    versions = conn.execute(
        "SELECT version, parent_version, source, params FROM motion.versions"
        " WHERE trigger_name = 'echo' ORDER BY version"
    ).fetchall()
    stale = [(v, p) for v, p, _, _ in versions[1:] if p != v - 1]
    serving = conn.execute("SELECT serving_version, params FROM motion.triggers").fetchone()
    assert serving is not None
    entries = dict(
        conn.execute(
            "SELECT e.key, b.data FROM motion.state_entries e JOIN motion.blobs b"
            " ON b.id = e.blob_id WHERE e.trigger_name = 'echo' AND e.version = %s",
            [serving[0]],
        ).fetchall()
    )
    count = pickle.loads(entries["count"])
    fitted = conn.execute(
        "SELECT coalesce(sum(r.jobs), 0) FROM motion.runs r WHERE r.trigger_name = 'echo'"
        " AND r.state = 'succeeded'"
    ).fetchone()
    assert fitted is not None
    recorded = {v: p for v, _, _, p in versions}
    rows = conn.execute("SELECT seen_version, seen_params FROM echo").fetchall()
    mismatched = sum(1 for v, p in rows if json.loads(p) != recorded[v])
    RELIABILITY.append({
        "scenario": f"{ADMINS} admins x {ALTERS} ALTER SET, worker fitting, {WRITERS} writers",
        "committed": len(rows), "fitted": count, "lost": len(rows) - count, "duplicated": 0,
        "rolled_back_fitted": 0, "recovery_p50_s": None, "recovery_max_s": None,
    })  # fmt: skip
    assert stale == [], f"{len(stale)} of {len(versions) - 1} versions have a stale parent"
    assert count == len(rows) == int(fitted[0]), "a fit was lost from the serving state"
    assert serving[1] == {f"k{n}": ALTERS - 1 for n in range(ADMINS)}, "a SET was lost"
    assert recorded[serving[0]] == serving[1]
    assert mismatched == 0, f"{mismatched} rows inferred with params not recorded for their version"
