"""A bulk fold costs the same whatever plans the worker and the fit process cached while the queue
was drained (issue 15 goals 1/2: the P4 outlier, a 100k bulk fold of 12-36 s against ~3 s).

Between bulk loads the worker polls a drained queue and the fit process folds a trickle, while
autovacuum truncates motion.jobs to no pages and analyzes it empty. PL/pgSQL (the claim) and the
fit process's prepared statements (the fold, then fold_commit) then keep generic plans made for
an empty table: every read of the queue sequential, and fold_commit called motion._run_jobs once
per queued row. A cached plan does not follow the table's size until motion.jobs is analyzed again:
each fit call of a 100k load read the whole queue (claim ~0.2 s, the fold ~0.5-1.7 s), the
worker's time budget cut the calls to ~500 events, and the fold took as long as autovacuum took to
come back (up to a minute).

Each statement is planned here on a drained, truncated, analyzed-empty queue with the settings it
runs with, then run over a deep queue (EXPLAIN (ANALYZE, BUFFERS), rolled back): no sequential
read of motion.jobs and a few buffers per event. Buffers, not time: not flaky.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

import motion_pg
from motion_pg.queries import query
from motion_pg.worker import Worker
from motion_pg.worker.fit_definition import MOTION_PATH

from .conftest import state
from .logged_plans import logged_plans
from .test_claim_plan import _buffers, _describe, _nodes
from .test_keyed_state import APPS, CREATE, TABLES
from .test_reliability import create_tally

EVENTS = 20_000
BATCH = 500
# a fit's end moves its events with ~6-10 buffers each (the primary key probe, the heap, the job
# log's insert and its indexes); the plan made on the drained queue read ~3 per queued event
PER_EVENT = 20
INSERT = (
    "INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data)"
    " SELECT %s, 0, %s, 'INSERT', jsonb_build_object('id', g, 'value', 1)"
    " FROM generate_series(1, %s) g"
)


def _load(conn: psycopg.Connection[Any], n: int, trigger: str = "tally") -> None:
    conn.execute(INSERT, [trigger, f"public.{trigger}", n])


def _drain(conn: psycopg.Connection[Any]) -> None:
    """motion.jobs as autovacuum leaves a drained queue: no pages, analyzed empty (the planner
    then costs a sequential scan at nothing)."""
    conn.execute("DELETE FROM motion.jobs")
    conn.execute("VACUUM ANALYZE motion.jobs")
    row = conn.execute(
        "SELECT relpages, reltuples FROM pg_class WHERE oid = 'motion.jobs'::regclass"
    ).fetchone()
    assert row == (0, 0), row


def _claim(conn: psycopg.Connection[Any], batch: int = BATCH) -> int:
    """A plain run of ``batch`` events, committed (as the worker's claim step makes it)."""
    row = conn.execute(
        "SELECT max(run_id) FROM motion._claim_plain('w', 30, %s, '{}', '{}', %s, 1000000000)",
        [batch, batch],
    ).fetchone()
    assert row is not None and row[0] is not None
    return int(row[0])


def _digest(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT code_digest FROM motion.triggers WHERE name = 'tally'").fetchone()
    assert row is not None
    return str(row[0])


def _fold_group(conn: psycopg.Connection[Any], run: int) -> list[Any]:
    """The parameters of one fit call's end: one slice, run ``run``'s events, one update."""
    row = conn.execute("SELECT job_ids FROM motion.runs WHERE id = %s", [run]).fetchone()
    assert row is not None
    digest = _digest(conn)
    return ["tally", run, "w", 1, row[0], None, [1], ["count"], [b"\x01" * 32], [b"state"],
            digest, digest]  # fmt: skip


# the fit process's statements that read or move a run's events, with their parameters for run r
FIT_STATEMENTS = {"fold_group": _fold_group, "complete_jobs": lambda conn, run: [run]}


def _literal(p: Any) -> sql.Composable:
    if isinstance(p, list) and p and isinstance(p[0], bytes):  # an empty ARRAY[] has no type
        return sql.SQL("ARRAY[{}]::bytea[]").format(sql.SQL(", ").join(sql.Literal(b) for b in p))
    return sql.Literal(p)


def _execute(params: list[Any]) -> sql.Composable:
    return sql.SQL("EXECUTE outlier({})").format(sql.SQL(", ").join(map(_literal, params)))


def _jobs_read(plan: dict[str, Any], described: str) -> int:
    """The buffers of every read of motion.jobs in ``plan``, none of them sequential."""
    for _, node in _nodes(plan):
        if node.get("Relation Name") == "jobs":
            assert node["Node Type"] != "Seq Scan", "a sequential read of motion.jobs\n" + described
    return sum(_buffers(n) for _, n in _nodes(plan) if n.get("Relation Name") == "jobs"
               or n.get("Index Name", "").startswith("jobs_"))  # fmt: skip


@pytest.mark.parametrize("name", list(FIT_STATEMENTS))
def test_a_fits_end_planned_on_a_drained_queue_serves_a_deep_one(
    conn: psycopg.Connection[Any], name: str
) -> None:
    """Prepared and planned generic (as the fit process keeps it) on a drained queue, with the
    settings the fit process runs motion's statements with, then run for a run of 500 events over
    a queue of 20k: motion.jobs read by index, a few buffers per event."""
    create_tally(conn, "tally", f"fit_batch = {BATCH}")
    conn.execute("SET jit = off")
    _load(conn, 10)
    first = _claim(conn)
    _drain(conn)
    conn.execute(sql.SQL("PREPARE outlier AS {}").format(sql.SQL(query(name))))
    try:
        with conn.transaction():  # the plan is made now (EXPLAIN EXECUTE plans, runs nothing)
            conn.execute(MOTION_PATH)
            conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            conn.execute(sql.SQL("EXPLAIN {}").format(_execute(FIT_STATEMENTS[name](conn, first))))
        conn.execute("UPDATE motion.runs SET state = 'succeeded' WHERE id = %s", [first])
        _load(conn, EVENTS)  # the bulk load: not analyzed since
        run = _claim(conn)
        with conn.transaction(force_rollback=True):
            conn.execute(MOTION_PATH)
            conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            row = conn.execute(sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}").format(
                _execute(FIT_STATEMENTS[name](conn, run)))).fetchone()  # fmt: skip
    finally:
        conn.execute("DEALLOCATE outlier")
    assert row is not None
    plan = dict(row[0][0]["Plan"])
    described = f"{name}, its generic plan made on a drained queue:\n" + _describe(plan)
    jobs = _jobs_read(plan, described)
    assert jobs < PER_EVENT * BATCH, f"{jobs} buffers of motion.jobs\n" + described


# claim_step as the worker calls it ($1: fit_batch, $2: excluded triggers, $3: keyed first)
STEP = "SELECT * FROM motion.claim_step('w', 30, %s, %s, '{}', %s, 1000000000, %s)"


def _step(conn: psycopg.Connection[Any], batch: int, excluded: list[str] | None = None,
          keyed_first: bool = False) -> int:  # fmt: skip
    rows = conn.execute(STEP, [batch, excluded or [], batch, keyed_first]).fetchall()
    return sum(1 for r in rows if r[0] in ("plain", "keyed"))


def _nested_plans(
    conn: psycopg.Connection[Any], *args: Any, **kwargs: Any
) -> tuple[int, list[str]]:
    """Events claimed by one claim step (rolled back) and the plan of every statement it ran,
    with the plans PL/pgSQL kept (auto_explain, logged to this client)."""
    with conn.transaction(force_rollback=True), logged_plans(conn) as plans:
        claimed = _step(conn, *args, **kwargs)
    return claimed, plans


def _ran(plans: list[str], start: str) -> bool:
    """Whether a statement whose text starts with ``start`` is among ``plans``."""
    return any(p.partition("Query Text:")[2].strip().startswith(start) for p in plans)


def _sequential_reads(plans: list[str]) -> list[str]:
    return [p for p in plans if "Seq Scan on jobs" in p or "Seq Scan on runs" in p]


def _poll_drained(conn: psycopg.Connection[Any], **kwargs: Any) -> None:
    """A worker's session polling a drained queue: PL/pgSQL settles on generic plans (after five
    custom ones) for the claims and for claim_step's own statements (the next-trigger walk and
    the keyed claim's empty-run DELETE run on every claim that finds nothing)."""
    _drain(conn)
    for _ in range(10):
        assert _step(conn, BATCH, **kwargs) == 0


# the backlog trim (motion._shed_backlog, PL/pgSQL) runs first in the step when a trigger sets it
TRIMS = {
    "no trim": "",
    "keep_latest": ", keep_latest = 1000",
    "discard_after": ", discard_after = 3600",
}


@pytest.mark.parametrize("trim", list(TRIMS))
def test_a_claim_step_planned_on_a_drained_queue_claims_from_a_deep_one(
    conn: psycopg.Connection[Any], trim: str
) -> None:
    """After polling a drained queue (no pages, analyzed empty), a claim step over 20k events
    reads no table of the queue sequentially (it read the queue twice per claim, ~0.2 s at 100k):
    the claim, and the backlog trim before it."""
    create_tally(conn, "tally", f"fit_batch = {BATCH}{TRIMS[trim]}")
    conn.execute("SET jit = off")
    _poll_drained(conn)
    _load(conn, EVENTS)
    claimed, plans = _nested_plans(conn, BATCH)
    assert claimed == BATCH
    assert _ran(plans, "WITH candidate AS MATERIALIZED"), plans  # the claim's statement
    if trim != "no trim":
        assert _ran(plans, "WITH policy AS MATERIALIZED"), plans  # the trim's
    assert not _sequential_reads(plans), "\n\n".join(_sequential_reads(plans))


def test_the_next_trigger_walk_planned_on_a_drained_queue_skips_a_held_deep_trigger(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    """claim_step's walk to the next ready trigger, when another worker's claim in flight holds
    the oldest trigger's events: planned on the drained queue, then over 20k events of the held
    trigger and 10 of another, the step takes the 10 and reads no table sequentially."""
    create_tally(conn, "tally", f"fit_batch = {BATCH}")
    create_tally(conn, "other", f"fit_batch = {BATCH}")
    conn.execute("SET jit = off")
    _poll_drained(conn)
    _load(conn, EVENTS, "tally")
    _load(conn, 10, "other")
    with psycopg.connect(dsn) as holder:  # a claim in flight: its batch locked, its run unseen
        holder.execute("SELECT id FROM motion.jobs WHERE trigger_name = 'tally' ORDER BY id"
                       " LIMIT %s FOR UPDATE", [BATCH])  # fmt: skip
        claimed, plans = _nested_plans(conn, BATCH)
        holder.rollback()
    assert claimed == 10
    assert _ran(plans, "SELECT t.name"), plans  # the walk
    assert not _sequential_reads(plans), "\n\n".join(_sequential_reads(plans))


def test_the_keyed_empty_run_delete_planned_on_a_drained_queue_reads_by_index(
    conn: psycopg.Connection[Any],
) -> None:
    """The keyed claim's clean-up of an empty run (claim_step's DELETE, run whenever a keyed
    claim finds nothing): planned on the drained queue, run with 20k keyed events queued and
    thousands of finished runs, it reads neither motion.jobs nor motion.runs sequentially."""
    conn.execute(TABLES)
    motion_pg.execute(conn, CREATE.format(apps=APPS))
    conn.execute("SET jit = off")
    _poll_drained(conn, keyed_first=True)
    conn.execute(
        "INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data, state_key)"
        " SELECT 'summary', 0, 'public.messages', 'INSERT',"
        " jsonb_build_object('id', g, 'user_id', g, 'body', 'x'), jsonb_build_array(g)"
        " FROM generate_series(1, %s) g",
        [EVENTS],
    )
    conn.execute(
        "INSERT INTO motion.runs (trigger_name, worker_id, state, lease_until, finished_at)"
        " SELECT 'summary', 'w', 'succeeded', now(), now() FROM generate_series(1, 5000)"
    )
    # the trigger held (excluded): the keyed claim finds nothing and its empty run is looked for
    claimed, plans = _nested_plans(conn, BATCH, ["summary"], keyed_first=True)
    assert claimed == 0
    assert _ran(plans, "DELETE FROM motion.runs"), plans
    assert not _sequential_reads(plans), "\n\n".join(_sequential_reads(plans))


def test_user_sql_in_fit_runs_with_the_connections_own_planner_settings(
    conn: psycopg.Connection[Any], dsn: str
) -> None:
    """Motion's statements in the fit process run without sequential scans; the user's fit code
    (ctx.db) gets the connection's own settings back, as it does its search_path and jit."""
    conn.execute("CREATE TABLE src (id serial PRIMARY KEY, value int)")
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER seer ON src USING 'motion_test_apps.outlier:SeesSettings'"
    )
    default_jit = str(conn.execute("SELECT current_setting('jit')").fetchone()[0])  # type: ignore[index]
    for _ in range(2):  # the second call folds with the definition the first one cached
        conn.execute("INSERT INTO src (value) VALUES (1)")
        assert Worker(dsn, poll_interval=0.05).run(once=True) == 1
        seen = state(conn, "seer")
        assert (seen["seqscan"], seen["jit"]) == ("on", default_jit), seen
