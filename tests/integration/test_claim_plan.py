"""The claim's plan and cost do not depend on the statistics of motion.jobs (issue 15, goal 1).

Autovacuum usually analyzes the queue when it is drained: its statistics then say that nothing is
pending, or that every row belongs to one running batch. A claim over a deep queue must still lock
its batch in one walk of its trigger's row range and read a few buffers per event, not walk the
queue. Costs are
counted in buffers (EXPLAIN (ANALYZE, BUFFERS)), not timed, so these tests are not flaky.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.queries import query

from .test_reliability import create_tally

EVENTS = 100_000
BATCH = 100
# a claim of BATCH events reads ~12 buffers per event with any statistics (the heap and index
# pages of the update included); the plan that serves the lock from jobs_pending_by_trigger walks
# the whole pending set and reads ~32 per event at this depth, ~400 on a bloated index
CLAIM_BUFFERS = 20 * BATCH
LOCK_BUFFERS = 5 * BATCH  # the locked step alone: ~1 per event in the trigger's row range
FINISH_BUFFERS = 20 * BATCH  # complete_jobs, fail_jobs, release_runs, reclaim_expired: ~8-16

KINDS = ["fresh", "drained", "one-batch", "never"]
ENQUEUE = (
    "INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data, state, run_id,"
    " finished_at) SELECT 'tally', 0, 'public.tally', 'INSERT',"
    " jsonb_build_object('id', g, 'value', g), %s, %s, CASE WHEN %s = 'done' THEN now() END"
    " FROM generate_series(1, %s) g"
)


def _enqueue(
    conn: psycopg.Connection[Any], n: int, state: str = "pending", run: int | None = None
) -> None:
    conn.execute(ENQUEUE, [state, run, state, n])


def _statistics(conn: psycopg.Connection[Any], kind: str) -> None:
    """Leave motion.jobs empty with the statistics of ``kind``, then load EVENTS pending events."""
    if kind == "drained":  # the worker drained the queue; analyzed before and after the prune
        _enqueue(conn, 2000, "done", 1)
        conn.execute("VACUUM ANALYZE motion.jobs")
        conn.execute("DELETE FROM motion.jobs")
        conn.execute("VACUUM ANALYZE motion.jobs")
    elif kind == "one-batch":  # analyzed while the queue was a single running batch
        _enqueue(conn, 2000, "running", 1)
        conn.execute("VACUUM ANALYZE motion.jobs")
        conn.execute("DELETE FROM motion.jobs")
    elif kind == "never":  # a fresh install: never analyzed, then vacuumed empty
        conn.execute("VACUUM ANALYZE motion.jobs")
    _enqueue(conn, EVENTS)
    if kind == "fresh":
        conn.execute("VACUUM ANALYZE motion.jobs")


@pytest.fixture
def tally(conn: psycopg.Connection[Any]) -> Iterator[psycopg.Connection[Any]]:
    create_tally(conn, "tally", f"fit_batch = {BATCH}")
    conn.execute("SET jit = off")  # as the worker's connection runs its statements
    yield conn


# the named queries that call a function whose body is the statement to look into
BODIES = {
    "claim_jobs": "motion._claim_plain(text, float8, integer, text[], jsonb, integer, bigint)",
    "claim_keyed_jobs": "motion._claim_keyed(text, float8, integer, text[])",
    "fail_jobs": "motion._fail_jobs(bigint, text, integer, float8, float8)",
    "reclaim_expired": "motion._reclaim_expired(float8)",
    "release_runs": "motion._release_runs(text, boolean, text)",
}


def statement(conn: psycopg.Connection[Any], name: str) -> str:
    """The text of named query ``name``, or of the function body it runs (EXPLAIN sees into it)."""
    if name not in BODIES:
        return query(name)
    row = psycopg.RawCursor(conn).execute(query("function_body"), [BODIES[name]]).fetchone()
    assert row is not None
    return str(row[0])


def _explain(conn: psycopg.Connection[Any], name: str, params: list[Any]) -> dict[str, Any]:
    """The JSON plan of statement ``name`` run for real (EXPLAIN ANALYZE) and rolled back."""
    text = statement(conn, name)
    with conn.transaction(force_rollback=True):
        cur = psycopg.RawCursor(conn).execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + text,
                                              params)  # fmt: skip
        row = cur.fetchone()
    assert row is not None
    return dict(row[0][0]["Plan"])


def _explain_generic(conn: psycopg.Connection[Any], name: str, params: list[Any]) -> dict[str, Any]:
    """The JSON plan of statement ``name`` as a generic plan (what PL/pgSQL keeps after a few
    calls), run for real and rolled back."""
    from psycopg import sql

    conn.execute(sql.SQL("PREPARE claim_generic AS {}").format(sql.SQL(statement(conn, name))))
    try:
        with conn.transaction(force_rollback=True):
            conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            args = sql.SQL(", ").join(sql.Literal(p) for p in params)
            row = conn.execute(sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE "
                                       "claim_generic({})").format(args)).fetchone()  # fmt: skip
    finally:
        conn.execute("DEALLOCATE claim_generic")
    assert row is not None
    return dict(row[0][0]["Plan"])


def _nodes(plan: dict[str, Any], cte: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every node with the name of the CTE it belongs to."""
    yield cte, plan
    for child in plan.get("Plans", []):
        yield from _nodes(child, child.get("Subplan Name", cte) if "CTE" in child.get(
            "Subplan Name", "") else cte)  # fmt: skip


def _buffers(node: dict[str, Any]) -> int:
    return int(node.get("Shared Hit Blocks", 0)) + int(node.get("Shared Read Blocks", 0))


def _describe(plan: dict[str, Any]) -> str:
    return "\n".join(
        f"{cte or 'main'}: {n['Node Type']} {n.get('Index Name', n.get('Relation Name', ''))}"
        f" cond={n.get('Index Cond', '')} buffers={_buffers(n)}"
        for cte, n in _nodes(plan)
        if "Scan" in n["Node Type"] or n["Node Type"] in ("LockRows", "ModifyTable")
    )


def _jobs_scans(plan: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(c, n) for c, n in _nodes(plan) if n.get("Relation Name") == "jobs"
            or n.get("Index Name", "").startswith("jobs_")]  # fmt: skip


def _indexes(plan: dict[str, Any]) -> set[str]:
    """The indexes a plan reads."""
    return {n["Index Name"] for _, n in _nodes(plan) if "Index Name" in n}


def _assert_bounded_scans(plan: dict[str, Any]) -> None:
    """No scan of motion.jobs reads the whole queue or a whole pending set."""
    for _, node in _jobs_scans(plan):
        assert node["Node Type"] != "Seq Scan", "a seq scan of motion.jobs:\n" + _describe(plan)
        index, cond = node.get("Index Name", ""), node.get("Index Cond", "")
        if index in ("jobs_pending_by_trigger", "jobs_dead_by_trigger"):
            # a (trigger_name, id) index read without the trigger's row range walks all of it
            assert "ROW(trigger_name, id)" in cond, (
                f"{index} read without the trigger's row range:\n" + _describe(plan)
            )


def _check_claim(conn: psycopg.Connection[Any], described: str) -> None:
    params = ["test-worker", 30.0, BATCH, [], "{}", BATCH, 1 << 30]
    _check_claim_plan(_explain(conn, "claim_jobs", params), described)
    # PL/pgSQL keeps a generic plan after a few calls: it must be as good
    _check_claim_plan(_explain_generic(conn, "claim_jobs", params), "generic plan, " + described)


def _check_claim_plan(plan: dict[str, Any], described: str) -> None:
    described += _describe(plan)
    assert plan["Actual Rows"] == BATCH, described
    _assert_bounded_scans(plan)
    locked = [n for c, n in _nodes(plan) if c == "CTE locked" and n["Node Type"] == "LockRows"]
    assert len(locked) == 1, described
    assert _indexes(locked[0]) == {"jobs_pending_by_trigger"}, described
    assert _buffers(locked[0]) < LOCK_BUFFERS, described
    assert _buffers(plan) < CLAIM_BUFFERS, described


def _check_finish(conn: psycopg.Connection[Any], described: str) -> None:
    claimed = psycopg.RawCursor(conn).execute(
        query("claim_jobs"), ["gone", 30.0, BATCH, [], "{}", BATCH, 1 << 30]
    )
    run = claimed.fetchall()[0][0]
    conn.execute("UPDATE motion.runs SET lease_until = now() - interval '1 hour' WHERE id = %s",
                 [run])  # fmt: skip
    for name, params, rows in [
        ("complete_jobs", [run], BATCH),
        ("fail_jobs", [run, "boom", 5, 1.0, 60.0], BATCH),
        ("release_runs", ["gone", False, "worker lost"], BATCH),
        ("release_runs", ["gone", True, "worker stopping"], 0),  # the events were not written
        ("reclaim_expired", [30.0], BATCH),
    ]:
        plan = _explain(conn, name, params)
        text = f"{name}, {described}" + _describe(plan)
        touched = plan if "RETURNING" in statement(conn, name) else plan["Plans"][-1]
        assert touched["Actual Rows"] == rows, text
        _assert_bounded_scans(plan)
        # the run names its events (motion._run_jobs): they are read by primary key
        assert _indexes(plan) - {"runs_one_running_per_trigger", "triggers_pkey", "runs_pkey",
                                 "workers_pkey"} == {"jobs_pkey"}, text  # fmt: skip
        assert _buffers(plan) < FINISH_BUFFERS, text


@pytest.mark.parametrize(
    ("kind", "policy"),
    [(kind, "retry") for kind in KINDS] + [("drained", "block"), ("one-batch", "block")],
)
def test_claim_and_finish_read_by_index_under_any_statistics(
    tally: psycopg.Connection[Any], kind: str, policy: str
) -> None:
    """With fresh, stale (drained or one running batch) and no statistics, over 100k pending
    events: the claim locks its batch in its trigger's row range and names it in its run;
    completing, failing, handing back and reclaiming a run read the events it names by primary
    key; and each reads a few buffers per event."""
    conn = tally
    motion_pg.execute(conn, f"ALTER MOTION TRIGGER tally SET (on_fit_error = '{policy}')")
    _statistics(conn, kind)
    described = f"statistics {kind}, on_fit_error {policy}:\n"
    _check_claim(conn, described)
    _check_finish(conn, described)
