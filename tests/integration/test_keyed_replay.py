"""``motion-pg replay`` of keyed triggers (STATE PER): a keyed fit version's keys are rebuilt from
the key's state before it and its run's events, and compared key by key; ``--key`` rebuilds one
key; a keyed rollback version is checked key by key; nothing is written."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

import motion_pg

from .test_keyed_state import APPS, CREATE, TABLES, run_worker, send
from .test_replay import replay, snapshot

KEYED_TABLES = ["motion.key_states", "motion.versions", "motion.jobs", "motion.job_log",
                "motion.runs", "fit_log"]  # fmt: skip


@pytest.fixture
def history(conn: psycopg.Connection[Any], dsn: str) -> None:
    """Version 2: keys 1 and 2 fitted; version 3: key 1 again."""
    conn.execute(TABLES)
    motion_pg.execute(conn, CREATE.format(apps=APPS))
    send(conn, (1, "a1"), (2, "b1"), (1, "a2"))
    run_worker(dsn)
    send(conn, (1, "a3"))
    run_worker(dsn)
    found = conn.execute("SELECT version, source FROM motion.versions ORDER BY version").fetchall()
    assert found == [(1, "setup"), (2, "fit"), (3, "fit")]


def test_replay_rebuilds_each_key_of_a_keyed_fit_and_writes_nothing(
    conn: psycopg.Connection[Any], dsn: str, history: None
) -> None:
    before = snapshot(conn, KEYED_TABLES)
    done = replay(dsn, "summary", 2, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    found = json.loads(done.stdout)
    assert found["status"] == "equal" and found["events"] == 3
    assert sorted(found["keys"]) == ["[1]", "[2]"]
    # version 3 folds key 1's one new event onto its state of version 2
    again = json.loads(replay(dsn, "summary", 3, "--json").stdout)
    assert again["status"] == "equal" and list(again["keys"]) == ["[1]"], again
    assert snapshot(conn, KEYED_TABLES) == before


def test_replay_of_one_key(conn: psycopg.Connection[Any], dsn: str, history: None) -> None:
    found = json.loads(replay(dsn, "summary", 2, "--json", "--key", "2").stdout)
    assert found["status"] == "equal" and list(found["keys"]) == ["[2]"] and found["events"] == 1
    refused = replay(dsn, "summary", 3, "--key", "2")
    assert refused.returncode == 2
    assert "did not change key [2]" in refused.stderr and "replay version 2" in refused.stderr
    wrong = replay(dsn, "summary", 2, "--key", "two")
    assert wrong.returncode == 2 and "invalid input syntax" in wrong.stderr, wrong.stderr


def test_replay_finds_a_key_whose_stored_state_differs(
    conn: psycopg.Connection[Any], dsn: str, history: None
) -> None:
    # key 1's state at version 3 replaced by its state at version 2
    conn.execute(
        "UPDATE motion.key_states s SET data = o.data FROM motion.key_states o"
        " WHERE s.key = '[1]' AND s.version = 3 AND o.key = '[1]' AND o.version = 2"
    )
    done = replay(dsn, "summary", 3, "--json")
    assert done.returncode == 1
    found = json.loads(done.stdout)
    assert [(d["key"], d["change"]) for d in found["differences"]] == [("[1]", "changed")]


def test_replay_checks_a_keyed_rollback_key_by_key(
    conn: psycopg.Connection[Any], dsn: str, history: None
) -> None:
    motion_pg.execute(conn, "ALTER MOTION TRIGGER summary ROLLBACK TO VERSION 2")
    found = json.loads(replay(dsn, "summary", 4, "--json").stdout)
    assert found["source"] == "rollback" and found["status"] == "equal", found
    assert "[1]" in found["keys"] and "key(s) it restored" in found["basis"]
    conn.execute("UPDATE motion.key_states SET data = NULL WHERE key = '[1]' AND version = 4")
    broken = json.loads(replay(dsn, "summary", 4, "--json").stdout)
    assert [d["key"] for d in broken["differences"]] == ["[1]"]


def test_replay_of_a_run_where_a_key_failed(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(TABLES)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER summary ON messages (body) STATE PER (user_id) USING '{APPS}:Fragile'"
        " WITH (max_attempts = 1)",
    )
    send(conn, (1, "a"), (2, "boom"), (3, "c"))
    run_worker(dsn)
    found = json.loads(replay(dsn, "summary", 2, "--json").stdout)
    assert found["status"] == "equal" and sorted(found["keys"]) == ["[1]", "[3]"], found
    assert found["events"] == 2


def test_retention_keeps_what_replay_of_a_kept_version_reads(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    """keep_versions = 2: a kept keyed version still replays equal (the key's rows below it that
    it folds onto are kept), a pruned one is refused as pruned."""
    conn.execute(TABLES)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER summary ON messages (body) STATE PER (user_id)"
        f" USING '{APPS}:Summary' WITH (keep_versions = 2)",
    )
    send(conn, (2, "b1"))
    run_worker(dsn)
    for i in range(4):  # key 1 changes in four versions, key 2 never again
        send(conn, (1, f"a{i}"), (2 if i == 3 else 1, f"x{i}"))
        run_worker(dsn)
    conn.execute("SELECT * FROM motion.prune('summary')")
    newest = conn.execute("SELECT max(version) FROM motion.versions").fetchone()
    assert newest is not None and newest[0] == 6
    kept = json.loads(replay(dsn, "summary", 6, "--json").stdout)
    assert kept["status"] == "equal" and sorted(kept["keys"]) == ["[1]", "[2]"], kept
    pruned = replay(dsn, "summary", 3)
    assert pruned.returncode == 2 and "pruned" in pruned.stderr, pruned.stderr
