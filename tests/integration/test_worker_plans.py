"""The worker's statements that end a run keep no plan made for a drained queue (issue 15, the
P4 outlier's last plans: tests/integration/test_outlier_plan.py fixed the claim and the fit's end).

fail_jobs, reclaim_expired and release_runs read a run's events in motion.jobs
(``id = ANY (motion._run_jobs(...))``) on the worker's own connection, which psycopg prepares after
five runs (reclaim_expired runs at every housekeeping turn). A generic plan made while motion.jobs
was drained (no pages, analyzed empty) read the queue sequentially and called motion._run_jobs per
queued row, until the next ANALYZE. Each statement is planned here on a drained queue with the
worker connection's own settings (only the plan cache forced generic), then run for a run of 500
events over a queue of 20k (auto_explain of every statement it runs, rolled back): no sequential
read of motion.jobs, a few buffers per event. Buffers, not time: not flaky.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from motion_pg.queries import query

from .logged_plans import logged_plans, plan_of
from .test_claim_plan import _buffers, _nodes
from .test_outlier_plan import BATCH, EVENTS, PER_EVENT, _claim, _drain, _load
from .test_reliability import create_tally


def _expire(conn: psycopg.Connection[Any], run: int) -> None:
    """The run's worker is gone: its lease expired, no heartbeat."""
    conn.execute("UPDATE motion.runs SET lease_until = now() - interval '1 minute' WHERE id = %s",
                 [run])  # fmt: skip


# each statement with its parameters for run r of worker 'w' (as the worker passes them), what it
# needs first, and the rows it returns for a run of n events
STATEMENTS: dict[str, tuple[Callable[[int], list[Any]], Callable[..., None] | None, bool]] = {
    "fail_jobs": (lambda run: [run, "boom", 5, 0.05, 60.0], None, False),
    "reclaim_expired": (lambda run: [30.0], _expire, True),
    "release_runs": (lambda run: ["w", False, "connection lost"], None, True),
}


def _run(conn: psycopg.Connection[Any], name: str, params: list[Any]) -> list[dict[str, Any]]:
    """``name`` as the worker runs it: prepared (psycopg prepares a statement after five runs)."""
    with psycopg.RawCursor(conn, row_factory=dict_row) as cur:
        cur.execute(query(name), params, prepare=True)
        return cur.fetchall() if cur.description is not None else []


def _plans(
    conn: psycopg.Connection[Any], name: str, params: list[Any], run: int
) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of ``name`` (rolled back), the events it gave back to ``run`` (their run_id), and
    the plan of every statement it ran, with buffers."""
    with conn.transaction(force_rollback=True):
        with logged_plans(conn, analyze=True) as messages:
            rows = _run(conn, name, params)
        row = conn.execute("SELECT count(*) FROM motion.jobs WHERE run_id = %s", [run]).fetchone()
    plans = [plan_of(m) for m in messages]
    assert row is not None
    return int(row[0]), rows, plans


def _jobs_reads(plans: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """Buffers of every read of motion.jobs in ``plans``, and the sequential reads among them."""
    buffers, sequential = 0, []
    for plan in plans:
        for _, n in _nodes(plan["Plan"]):
            if n.get("Relation Name") == "jobs" or n.get("Index Name", "").startswith("jobs_"):
                buffers += _buffers(n)
                if n["Node Type"] == "Seq Scan":
                    sequential.append(plan["Query Text"][:60])
    return buffers, sequential


@pytest.mark.parametrize("name", list(STATEMENTS))
def test_a_worker_statement_planned_on_a_drained_queue_serves_a_deep_one(
    conn: psycopg.Connection[Any], name: str
) -> None:
    """Prepared and planned generic on a drained queue (the worker's session polling it), then run
    for a run of 500 events over 20k queued: motion.jobs read by index, a few buffers per event,
    and the statement's connection settings untouched."""
    params, prepare, returns = STATEMENTS[name]
    create_tally(conn, "tally", f"fit_batch = {BATCH}")
    conn.execute("SET jit = off")
    conn.execute("SET plan_cache_mode = force_generic_plan")  # as after psycopg's five runs
    _load(conn, 10)
    first = _claim(conn)
    _drain(conn)
    if prepare is not None:
        prepare(conn, first)
    # planned now, on the drained queue (committed: psycopg forgets its prepared statements at a
    # rollback); the drained queue holds none of the run's events, nothing changes
    planned = _run(conn, name, params(first))
    assert not returns or planned == []
    conn.execute("UPDATE motion.runs SET state = 'succeeded' WHERE id = %s", [first])
    _load(conn, EVENTS)  # the bulk load: not analyzed since
    run = _claim(conn)
    if prepare is not None:
        prepare(conn, run)
    events, rows, plans = _plans(conn, name, params(run), run)
    assert events == BATCH
    if returns:
        assert len(rows) == BATCH, rows[:3]
    buffers, sequential = _jobs_reads(plans)
    # motion._run_jobs runs once per run, not once per queued event
    lookups = sum(1 for p in plans if "r.job_ids" in p["Query Text"])
    described = f"{name}: motion._run_jobs ran {lookups} times\n" + "\n".join(
        f"{n['Node Type']} {n.get('Index Name', n.get('Relation Name', ''))}"
        f" loops={n.get('Actual Loops')} buffers={_buffers(n)}"
        for p in plans if "r.job_ids" not in p["Query Text"] for _, n in _nodes(p["Plan"])
    )  # fmt: skip
    assert not sequential, "a sequential read of motion.jobs\n" + described
    assert buffers < PER_EVENT * BATCH, f"{buffers} buffers of motion.jobs\n" + described
    assert lookups <= 1, described
    setting = conn.execute("SELECT current_setting('enable_seqscan')").fetchone()
    assert setting == ("on",)
