"""Retention (issue 10 item 3): motion.prune, `motion-pg prune` and the worker keep the newest
keep_versions versions, the serving and pinned ones and the events that built them; pruned versions
stay as tombstones that ROLLBACK, PIN and motion.state refuse clearly."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import psycopg
import pytest

import motion_pg
import motion_pg.errors
from motion_pg.pg import PgDatabase
from motion_pg.queries import query
from motion_pg.worker import Worker, runner

from .conftest import motion_pg_cli, state

APP = "motion_test_apps.retention:Counter"


def create(conn: psycopg.Connection[Any], name: str, settings: str) -> None:
    conn.execute(f"CREATE TABLE {name} (id serial PRIMARY KEY, value int)")
    motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER {name} ON {name} USING '{APP}' WITH ({settings})"
    )


def fit_all(dsn: str) -> None:
    # batches of fit_batch whatever the load: under the default 1 s time budget, one call of 10
    # that took 1.2 s cut the next to 8 and left 601 fits of 6,000 events, not 600
    Worker(dsn, poll_interval=0.05, fit_batch=10, fit_batch_time=1000.0).run(once=True)


def log_finished(conn: psycopg.Connection[Any]) -> None:
    """Move every finished job into motion.job_log now (the worker waits 10 minutes)."""
    PgDatabase(conn).query(query("prune_jobs"), [0])


def kept(conn: psycopg.Connection[Any], name: str) -> list[int]:
    rows = conn.execute(
        "SELECT version FROM motion.version_history WHERE trigger_name = %s AND pruned_at IS NULL"
        " ORDER BY version",
        [name],
    ).fetchall()
    return [r[0] for r in rows]


def prune_rows(conn: psycopg.Connection[Any], name: str, dry_run: bool) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT kind, count, versions, bytes FROM motion.prune(%s, %s)", [name, dry_run]
    ).fetchall()
    return {kind: (count, versions, size) for kind, count, versions, size in rows}


def built_by(conn: psycopg.Connection[Any], name: str) -> dict[int, int | None]:
    """Each logged event of ``name`` -> the version its run built."""
    rows = conn.execute(
        "SELECT l.id, r.version_after FROM motion.job_log l LEFT JOIN motion.runs r"
        " ON r.id = l.run_id WHERE l.trigger_name = %s",
        [name],
    ).fetchall()
    return {i: v for i, v in rows}


def test_issue_case_keeps_100_versions_and_lineage(conn: psycopg.Connection[Any], dsn: str) -> None:
    create(conn, "counter", "fit_batch = 10, keep_events = '1 hour'")
    conn.execute("INSERT INTO counter (value) SELECT g FROM generate_series(1, 6000) g")
    fit_all(dsn)
    head = conn.execute("SELECT max(version) FROM motion.versions").fetchone()[0]  # type: ignore[index]
    assert head == 601 and state(conn, "counter")["count"] == 6000
    log_finished(conn)
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter PIN VERSION 5")
    window = list(range(head - 99, head + 1))
    samples = [5, head - 99, head - 50, head]
    before = {v: conn.execute("SELECT motion.state('counter', %s)", [v]).fetchone()[0]  # type: ignore[index]
              for v in samples}  # fmt: skip
    # events of the first half are old: those of pruned versions go, those of kept ones stay
    conn.execute("UPDATE motion.job_log SET created_at = created_at - interval '2 hours'"
                 " WHERE id <= (SELECT min(id) + 2999 FROM motion.job_log)")  # fmt: skip
    old = {i for (i,) in conn.execute("SELECT id FROM motion.job_log"
                                      " WHERE created_at < now() - interval '1 hour'")}  # fmt: skip
    events = built_by(conn, "counter")
    big_blob = conn.execute(
        "SELECT DISTINCT blob_id FROM motion.state_entries WHERE key = 'big'"
    ).fetchall()
    assert len(big_blob) == 1

    dry = prune_rows(conn, "counter", dry_run=True)
    cli = json.loads(motion_pg_cli("prune", "counter", "--dry-run", "--json", dsn=dsn).stdout)
    assert {r["kind"]: (r["count"], r["versions"], r["bytes"]) for r in cli} == dry
    assert kept(conn, "counter") == list(range(1, head + 1))  # the dry run removed nothing
    done = prune_rows(conn, "counter", dry_run=False)
    assert done == dry

    pruned = [v for v in range(1, head + 1) if v not in window and v != 5]
    assert done["versions"][0] == len(pruned) == 600 - 100 and done["versions"][1] == pruned
    assert kept(conn, "counter") == [5, *window]
    # tombstones: every version row stays, and the chain leads from the head back to setup
    rows = dict(conn.execute("SELECT version, parent_version FROM motion.versions").fetchall())
    assert len(rows) == head
    walk, chain = head, []
    while walk is not None:
        chain.append(walk)
        walk = rows[walk]
    assert chain[-1] == 1 and len(chain) == head
    assert conn.execute("SELECT count(*) FROM motion.state_entries WHERE version <> ALL (%s)",
                        [[5, *window]]).fetchone()[0] == 0  # type: ignore[index]  # fmt: skip
    # kept states load and equal what motion.state said before the prune; shared blobs stay
    for v in samples:
        assert conn.execute("SELECT motion.state('counter', %s)", [v]).fetchone()[0] == before[v]  # type: ignore[index]
    assert conn.execute("SELECT count(*) FROM motion.blobs WHERE id = %s",
                        [big_blob[0][0]]).fetchone()[0] == 1  # type: ignore[index]  # fmt: skip
    orphans = conn.execute("SELECT count(*) FROM motion.blobs b WHERE NOT EXISTS"
                           " (SELECT FROM motion.state_entries e WHERE e.blob_id = b.id)")  # fmt: skip
    assert orphans.fetchone()[0] == 0  # type: ignore[index]
    assert done["blobs"][0] > 0 and done["blobs"][2] > 0
    # events: old ones of pruned versions are gone; young ones and those of kept versions stay
    left = set(built_by(conn, "counter"))
    expect_gone = {i for i, v in events.items() if i in old and v not in [5, *window]}
    assert (
        expect_gone and left == set(events) - expect_gone and done["events"][0] == len(expect_gone)
    )
    assert any(events[i] == 5 and i in old for i in left)  # old, but built the pinned version
    # a pruned version is refused clearly everywhere its state is read
    message = r"version 10 of trigger counter was pruned by retention at .*; versions kept: 5, "
    message += f"{head - 99}-{head}"
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter UNPIN")
    with pytest.raises(motion_pg.errors.DefinitionError, match=message):
        motion_pg.execute(conn, "ALTER MOTION TRIGGER counter ROLLBACK TO VERSION 10")
    with pytest.raises(motion_pg.errors.DefinitionError, match=message):
        motion_pg.execute(conn, "ALTER MOTION TRIGGER counter PIN VERSION 10")
    with pytest.raises(psycopg.Error, match=message) as info:
        conn.execute("SELECT motion.state('counter', 10)")
    assert info.value.sqlstate == "MP100"
    # the kept ones still work, and a second prune finds nothing
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter ROLLBACK TO VERSION 5")
    assert state(conn, "counter")["count"] == before[5]["keys"]["count"]
    # unpinned, 5 goes now (its state lives on in the rollback version, so no blob goes with it)
    again = prune_rows(conn, "counter", dry_run=False)
    assert again["versions"][1] == [5, head - 99] and again["events"][0] == 10


def test_prune_dry_run_cli_table(
    conn: psycopg.Connection[Any], dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # rich tables: one line per row
    create(conn, "small", "fit_batch = 10, keep_versions = 2, keep_events = 0")
    conn.execute("INSERT INTO small (value) SELECT g FROM generate_series(1, 50) g")
    fit_all(dsn)
    out = motion_pg_cli("prune", "--dry-run", dsn=dsn).stdout
    assert "dry run: nothing removed" in out and "would remove" in out
    assert "1-4" in out and "versions" in out and "blobs" in out
    assert kept(conn, "small") == [1, 2, 3, 4, 5, 6]
    out = motion_pg_cli("prune", "small", dsn=dsn).stdout
    assert "removed" in out and kept(conn, "small") == [5, 6]
    assert "6 (4 pruned)" in motion_pg_cli("status", dsn=dsn).stdout
    counts = conn.execute("SELECT versions_kept, versions_pruned FROM motion.trigger_status")
    assert counts.fetchone() == (2, 4)
    failed = motion_pg_cli("prune", "nosuch", dsn=dsn, check=False)
    assert failed.returncode != 0 and 'motion trigger "nosuch" does not exist' in failed.stderr


def test_the_worker_prunes_on_its_own(
    conn: psycopg.Connection[Any], dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    create(conn, "auto", "fit_batch = 10, keep_versions = 3, keep_events = 0")
    conn.execute("INSERT INTO auto (value) SELECT g FROM generate_series(1, 50) g")
    fit_all(dsn)
    assert kept(conn, "auto") == [1, 2, 3, 4, 5, 6]
    # a worker's housekeeping logs the finished jobs and prunes (its first round runs at once), in
    # small transactions that together remove everything outside the policy
    monkeypatch.setattr(runner, "PRUNE_BATCH", 2)
    Worker(dsn, poll_interval=0.05, prune_after=0).run(once=True)
    assert kept(conn, "auto") == [4, 5, 6]
    built = set(built_by(conn, "auto").values())
    assert built == {4, 5, 6}  # the events of versions 2 and 3 are gone, those of 4-6 stay
    assert state(conn, "auto")["count"] == 50


def test_prune_during_a_fit_loses_nothing(conn: psycopg.Connection[Any], dsn: str) -> None:
    create(conn, "busy", "fit_batch = 10, keep_versions = 1, keep_events = 0, fit_sleep = 1.5")
    conn.execute("INSERT INTO busy (value) SELECT g FROM generate_series(1, 20) g")
    worker = threading.Thread(target=fit_all, args=(dsn,))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while not conn.execute("SELECT count(*) FROM motion.runs WHERE state = 'running'"
                               ).fetchone()[0]:  # type: ignore[index]  # fmt: skip
            assert time.monotonic() < deadline, "the fit never started"
            time.sleep(0.02)
        # new versions while the fit runs: the version it folds onto is no longer the newest
        motion_pg.execute(conn, "ALTER MOTION TRIGGER busy SET (marker = 1)")
        motion_pg.execute(conn, "ALTER MOTION TRIGGER busy SET (marker = 2)")
        running = prune_rows(conn, "busy", dry_run=False)
        # the running fit loaded version 1 (or a newer one): none of them goes while it runs
        assert running["versions"] == (0, [], 0)
    finally:
        worker.join(60)
    assert state(conn, "busy")["count"] == 20
    final = prune_rows(conn, "busy", dry_run=False)
    head = conn.execute("SELECT max(version) FROM motion.versions").fetchone()[0]  # type: ignore[index]
    assert kept(conn, "busy") == [head] and final["versions"][0] > 0
    assert state(conn, "busy")["count"] == 20 and state(conn, "busy")["last"] == 20


def test_loading_a_pruned_state_says_so(conn: psycopg.Connection[Any], dsn: str) -> None:
    from motion_pg.runtime.state import BlobCache

    create(conn, "gone", "fit_batch = 10, keep_versions = 1")
    conn.execute("INSERT INTO gone (value) SELECT g FROM generate_series(1, 20) g")
    fit_all(dsn)
    prune_rows(conn, "gone", dry_run=False)
    db = PgDatabase(conn)
    assert BlobCache().load(db, "gone", 3)["count"] == 20
    # what a backend or a fit loading version 2 gets (never an empty state or a KeyError)
    with pytest.raises(motion_pg.errors.DefinitionError,
                       match=r"version 2 of trigger gone was pruned by retention at .*; "
                       r"versions kept: 3") as info:  # fmt: skip
        BlobCache().load(db, "gone", 2)
    assert "keep_versions" in str(info.value.hint)
