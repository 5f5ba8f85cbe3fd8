"""STATE PER (keyed state): per-key isolation and initial state, fit per key, two workers fitting
different keys in parallel and never one key twice at once, the backend's bounded key cache,
rollback per key, and the lineage stamp naming the key's version."""

from __future__ import annotations

import itertools
import json
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import DefinitionError, MotionError, UnknownColumn
from motion_pg.worker import Worker

from .test_reliability import drained, start_worker, wait_until
from .test_reliability import workers as workers  # the fixture

APPS = "motion_test_apps.keyed"
TABLES = """
CREATE TABLE messages (id serial PRIMARY KEY, user_id int NOT NULL, org text DEFAULT 'a',
                       body text, seen int, note text, key_version int);
CREATE TABLE fit_log (key text, user_ids int[], ids bigint[], started float8, ended float8,
                      pid int);
"""
CREATE = (
    "CREATE MOTION TRIGGER summary ON messages (body) STATE PER (user_id) USING '{apps}:Summary'"
)


def run_worker(dsn: str) -> int:
    return Worker(dsn, poll_interval=0.05).run(once=True)


def send(conn: psycopg.Connection[Any], *messages: tuple[int, str]) -> list[tuple[Any, ...]]:
    """Insert (user_id, body) rows; returns (user_id, seen, note, key_version) of each."""
    rows = []
    for user, body in messages:
        found = conn.execute(
            "INSERT INTO messages (user_id, body) VALUES (%s, %s)"
            " RETURNING user_id, seen, note, key_version",
            [user, body],
        ).fetchone()
        assert found is not None
        rows.append(tuple(found))
    return rows


@pytest.fixture
def summary(conn: psycopg.Connection[Any]) -> None:
    conn.execute(TABLES)
    motion_pg.execute(conn, CREATE.format(apps=APPS))


def backend_cache(conn: psycopg.Connection[Any], name: str) -> dict[str, Any]:
    """What this session's backend holds for keyed trigger ``name`` (its Python interpreter is
    the session's: the same one infer ran in)."""
    conn.execute(
        "CREATE OR REPLACE FUNCTION pg_temp.key_cache(name text) RETURNS jsonb"
        " LANGUAGE plpython3u AS $$\n"
        "import json\n"
        "from motion_pg.runtime import backend\n"
        "k = backend._loaded[name].keyed\n"
        "return json.dumps({'keys': list(k.entries), 'loads': k.loads, 'capacity': k.capacity})\n"
        "$$"
    )
    row = conn.execute("SELECT pg_temp.key_cache(%s)", [name]).fetchone()
    assert row is not None
    return dict(row[0])


def test_each_key_sees_its_own_state_and_a_new_key_its_initial_one(
    conn: psycopg.Connection[Any], dsn: str, summary: None
) -> None:
    first = send(conn, (1, "a1"), (1, "a2"), (2, "b1"))
    # before any fit every key starts from setup's state under setup_key's
    assert [r[1:3] for r in first] == [(0, "hi:new:1:1:None")] * 2 + [(0, "hi:new:2:2:None")]
    run_worker(dsn)
    later = send(conn, (1, "a3"), (2, "b2"), (3, "c1"))
    assert later[0][1:3] == (2, "hi:new:1:1:a2")
    assert later[1][1:3] == (1, "hi:new:2:2:b1")
    assert later[2][1:3] == (0, "hi:new:3:3:None")  # never fitted: its initial state
    # fit got one key per call, oldest first
    calls = conn.execute("SELECT key, user_ids, ids FROM fit_log ORDER BY key").fetchall()
    assert [(c[0], c[1], len(c[2])) for c in calls] == [("1", [1], 2), ("2", [2], 1)]
    assert all(c[2] == sorted(c[2]) for c in calls)
    # storage grows with the keys a fit changed: one row per changed key, not keys x versions
    stored = conn.execute(
        "SELECT key::text, version FROM motion.key_states WHERE trigger_name = 'summary'"
        " ORDER BY key"
    ).fetchall()
    assert [k for k, _ in stored] == ["[1]", "[2]"]
    # the key's version is the one that last changed it
    assert later[0][3] == stored[0][1] and later[1][3] == stored[1][1]
    shown = conn.execute("SELECT motion.key_state('summary', '[1]')").fetchone()
    assert shown is not None
    assert shown[0]["own"] == {"count": 2, "last": "a2", "since": "new:1"}
    assert shown[0]["key_version"] == stored[0][1]
    never = conn.execute("SELECT motion.key_state('summary', '[3]')").fetchone()
    assert never is not None and never[0]["own"] == {} and never[0]["key_version"] is None
    run_worker(dsn)
    assert send(conn, (3, "c2"))[0][1:3] == (1, "hi:new:3:3:c1")
    rows = conn.execute(
        "SELECT count(*) FROM motion.key_states WHERE trigger_name = 'summary'"
    ).fetchone()
    assert rows is not None and rows[0] == 5  # keys 1 and 2 once more, key 3 once


def test_several_key_columns_give_a_tuple_key(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(TABLES)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER pairs ON messages STATE PER (org, user_id) USING '{APPS}:PairKey'",
    )
    conn.execute("INSERT INTO messages (user_id, org, body) VALUES (1, 'a', 'x'), (1, 'b', 'y')")
    run_worker(dsn)
    found = conn.execute(
        "INSERT INTO messages (user_id, org, body) VALUES (1, 'a', 'z'), (2, 'a', 'w')"
        " RETURNING seen, note"
    ).fetchall()
    assert found == [(1, "('a', 1)"), (0, "('a', 2)")]


def test_create_refuses_a_missing_key_column_and_leaves_nothing(
    conn: psycopg.Connection[Any],
) -> None:
    conn.execute(TABLES)
    with pytest.raises(UnknownColumn, match='STATE PER column "account" does not exist in'):
        motion_pg.execute(
            conn,
            f"CREATE MOTION TRIGGER bad ON messages STATE PER (account) USING '{APPS}:Summary'",
        )
    rows = conn.execute("SELECT count(*) FROM motion.triggers").fetchone()
    assert rows is not None and rows[0] == 0
    with pytest.raises(MotionError, match="expected INFER, FIT, ON or USING"):
        motion_pg.execute(
            conn, f"CREATE MOTION TRIGGER bad ON messages STATE (x) USING '{APPS}:Summary'"
        )
    with pytest.raises(DefinitionError, match="cannot go with ON SCHEDULE"):
        motion_pg.execute(
            conn,
            f"CREATE MOTION TRIGGER bad ON messages ON SCHEDULE '0 * * * *' STATE PER (user_id)"
            f" USING '{APPS}:Summary'",
        )


def _backends(conn: psycopg.Connection[Any], application: str) -> int:
    """How many backends of this database run as ``application`` (a worker's connections)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = %s",
        [application],
    ).fetchone()
    return int(row[0]) if row is not None else 0


def test_two_workers_fit_keys_in_parallel_never_one_key_at_once(
    conn: psycopg.Connection[Any], dsn: str, workers: list[Any]
) -> None:
    conn.execute(TABLES)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER summary ON messages STATE PER (user_id) USING '{APPS}:Summary'"
        " WITH (fit_sleep = 0.03, fit_batch = 7)",
    )
    keys, rounds = 12, 8
    # both workers up (their loops listening, their fit processes connected) before any event:
    # under load a worker that started late found the queue drained by the other
    workers.extend(start_worker(dsn) for _ in range(2))
    wait_until(lambda: _backends(conn, "motion-pg listener") == _backends(conn, "motion-pg fit") == 2,
               120)  # fmt: skip
    for r in range(rounds):  # interleaved: each key's events are spread over the whole queue
        conn.execute(
            "INSERT INTO messages (user_id, body) SELECT k, %s || ':' || k"
            " FROM generate_series(1, %s) k",
            [str(r), keys],
        )
    wait_until(lambda: drained(conn, "summary"), 120)
    calls = conn.execute("SELECT key, user_ids, ids, started, ended, pid FROM fit_log").fetchall()
    by_key: dict[str, list[tuple[Any, ...]]] = {}
    for c in calls:
        assert len(c[1]) == 1  # one key per fit call
        by_key.setdefault(c[0], []).append(c)
    assert len(by_key) == keys
    for key, fits in by_key.items():
        fits.sort(key=lambda c: c[3])
        ids = [i for c in fits for i in c[2]]
        assert ids == sorted(ids) and len(ids) == rounds, (key, ids)  # per-key order, each once
        for a, b in itertools.pairwise(fits):
            assert a[4] <= b[3], f"key {key}: two fits overlapped"
    # both workers fitted, and fits of different keys overlapped in time
    assert len({c[5] for c in calls}) == 2
    spans = sorted((c[3], c[4], c[0]) for c in calls)
    overlapped = any(b[0] < a[1] and a[2] != b[2] for a, b in itertools.pairwise(spans))
    assert overlapped, "no two fits ran at once"
    state = conn.execute(
        "SELECT count(DISTINCT key) FROM motion.key_states WHERE trigger_name = 'summary'"
    ).fetchone()
    assert state is not None and state[0] == keys
    final = send(conn, *[(k, "last") for k in range(1, keys + 1)])
    assert {r[1] for r in final} == {rounds}


def test_the_backend_caches_a_bounded_number_of_keys(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    conn.execute(TABLES)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER summary ON messages STATE PER (user_id) USING '{APPS}:Summary'"
        " WITH (key_cache = 5)",
    )
    send(conn, *[(k, "x") for k in range(1, 21)])
    cache = backend_cache(conn, "summary")
    assert cache["capacity"] == 5 and cache["keys"] == [f"[{k}]" for k in range(16, 21)]
    assert cache["loads"] == 20
    run_worker(dsn)  # one run fits the 20 keys: one version changing all of them
    assert send(conn, (19, "again"), (20, "again"))[0][1] == 1
    loads = backend_cache(conn, "summary")["loads"]
    assert loads == 22  # more keys changed than were cached: the cache started over
    # next, a fit that changes key 20 alone: the backend drops key 20 and keeps key 19
    conn.execute("DELETE FROM motion.jobs WHERE state = 'pending' AND state_key <> '[20]'")
    run_worker(dsn)
    assert send(conn, (19, "z"))[0][1] == 1
    after = backend_cache(conn, "summary")
    assert after["loads"] == loads and "[20]" not in after["keys"] and "[19]" in after["keys"]
    assert send(conn, (20, "z"))[0][1] == 2
    assert backend_cache(conn, "summary")["loads"] == loads + 1


def test_rollback_restores_each_key(conn: psycopg.Connection[Any], dsn: str, summary: None) -> None:
    send(conn, (1, "a1"))
    run_worker(dsn)
    before = conn.execute("SELECT serving_version FROM motion.triggers").fetchone()
    assert before is not None
    send(conn, (1, "a2"), (2, "b1"))
    run_worker(dsn)
    assert [r[1:3] for r in send(conn, (1, "?"), (2, "?"))] == [
        (2, "hi:new:1:1:a2"),
        (1, "hi:new:2:2:b1"),
    ]
    motion_pg.execute(conn, f"ALTER MOTION TRIGGER summary ROLLBACK TO VERSION {before[0]}")
    rows = send(conn, (1, "?"), (2, "?"))
    assert [r[1:3] for r in rows] == [(1, "hi:new:1:1:a1"), (0, "hi:new:2:2:None")]
    serving = conn.execute("SELECT serving_version FROM motion.triggers").fetchone()
    assert serving is not None and serving[0] > before[0]
    assert rows[0][3] == serving[0]  # the rollback version wrote key 1's state back
    # fits go on from the restored states
    run_worker(dsn)
    assert send(conn, (2, "?"))[0][1] == 2  # '?' twice since the rollback, on top of nothing


def test_a_keyed_fit_stamps_lineage_with_the_keys_version(
    conn: psycopg.Connection[Any], dsn: str, summary: None
) -> None:
    send(conn, (1, "a1"))
    run_worker(dsn)
    send(conn, (2, "b1"))
    run_worker(dsn)
    row = send(conn, (1, "a2"))[0]
    ident = conn.execute("SELECT max(id) FROM messages").fetchone()
    assert ident is not None
    found = conn.execute(
        "SELECT motion.lineage('messages', %s::jsonb)", [json.dumps({"id": ident[0]})]
    ).fetchone()
    assert found is not None
    trig = next(t for t in found[0]["triggers"] if t["trigger"] == "summary")
    assert trig["version"] == row[3]


@pytest.mark.parametrize("kind", ["fresh", "drained"])
def test_the_keyed_claim_reads_by_index_under_any_statistics(
    conn: psycopg.Connection[Any], kind: str
) -> None:
    """Over 50k pending events of 50k keys, with fresh or drained statistics: no scan of
    motion.jobs reads the queue; the claim reads a few buffers per event it takes."""
    from .test_claim_plan import _buffers, _describe, _explain, _nodes

    conn.execute(TABLES)
    motion_pg.execute(conn, CREATE.format(apps=APPS))
    if kind == "drained":
        conn.execute(
            "INSERT INTO messages (user_id, body) SELECT g, 'x' FROM generate_series(1, 2000) g"
        )
        conn.execute("UPDATE motion.jobs SET state = 'done', finished_at = now()")
        conn.execute("VACUUM ANALYZE motion.jobs")
        conn.execute("DELETE FROM motion.jobs")
        conn.execute("VACUUM ANALYZE motion.jobs")
    conn.execute(
        "INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data, state_key)"
        " SELECT 'summary', 0, 'public.messages', 'INSERT',"
        " jsonb_build_object('id', g, 'user_id', g, 'body', 'x'), jsonb_build_array(g)"
        " FROM generate_series(1, 50000) g"
    )
    if kind == "fresh":
        conn.execute("VACUUM ANALYZE motion.jobs")
    conn.execute("SET jit = off")
    plan = _explain(conn, "claim_keyed_jobs", ["w", 30.0, 100, []])
    described = _describe(plan)
    assert plan["Actual Rows"] == 100, described
    for _, node in _nodes(plan):
        if node.get("Relation Name") == "jobs":
            assert node["Node Type"] != "Seq Scan", "a seq scan of motion.jobs:\n" + described
    assert _buffers(plan) < 40 * 100, described


def test_retention_keeps_the_rows_kept_versions_read(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    conn.execute(TABLES)
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER summary ON messages STATE PER (user_id) USING '{APPS}:Summary'"
        " WITH (keep_versions = 2)",
    )
    send(conn, (2, "b1"))
    run_worker(dsn)
    for i in range(5):  # key 1 changes in five versions, key 2 never again
        send(conn, (1, f"a{i}"))
        run_worker(dsn)
    conn.execute("SELECT * FROM motion.prune('summary')")
    kept = conn.execute(
        "SELECT key::text, version FROM motion.key_states ORDER BY key, version"
    ).fetchall()
    assert [k for k, _ in kept] == ["[1]", "[1]", "[2]"], kept  # key 1: the two kept versions
    # every key still reads its newest state
    assert [r[1] for r in send(conn, (1, "?"), (2, "?"))] == [5, 1]
