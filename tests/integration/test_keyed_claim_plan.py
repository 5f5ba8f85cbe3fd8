"""The keyed claim's plan and cost do not depend on the statistics of motion.jobs (issue 15 goal 1,
for STATE PER triggers: ``claim_keyed_jobs``, the body of ``motion._claim_keyed``).

As in test_claim_plan.py: the queue is analyzed fresh, drained, as one running batch, or never, then
20k pending events are loaded without analyzing again, and one claim is explained (EXPLAIN
(ANALYZE, BUFFERS), rolled back), as a custom and as a generic plan (the one PL/pgSQL keeps).
Every statistics kind must give the same plan, read motion.jobs only by index (no sequential or
bitmap scan: a bitmap scan reads every pending event and sorts them), and read a few buffers per
event it takes. Costs are buffers, not time: not flaky. The claims keep their plans across calls
(counted with debug_print_plan).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import motion_pg

from .test_claim_plan import _buffers, _describe, _explain, _explain_generic, _jobs_scans, _nodes
from .test_keyed_state import APPS, CREATE, TABLES
from .test_reliability import create_tally

EVENTS = 20_000
BATCH = 100
# ~17-19 buffers per event taken with any statistics (the walk, the key probe, the key_runs insert,
# the update by primary key); the stale plans walked the pending index once more in the update
# (~14 per event at this depth, growing with it) and once per event in the key probe
CLAIM_BUFFERS = 20 * BATCH
KINDS = ["fresh", "drained", "one-batch", "never"]
# the key of event g: one key per event, or 100 keys taking turns
LAYOUTS = {"a key per event": "g", "100 keys": "g %% 100"}
ENQUEUE = (
    "INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data, state_key, state,"
    " run_id, finished_at) SELECT 'summary', 0, 'public.messages', 'INSERT',"
    " jsonb_build_object('id', g, 'user_id', {key}, 'body', 'x'), jsonb_build_array({key}),"
    " %s, %s, CASE WHEN %s = 'done' THEN now() END FROM generate_series(1, %s) g"
)


def _enqueue(conn: psycopg.Connection[Any], key: str, n: int, state: str = "pending",
             run: int | None = None) -> None:  # fmt: skip
    conn.execute(ENQUEUE.format(key=key), [state, run, state, n])


def _statistics(conn: psycopg.Connection[Any], kind: str, key: str) -> None:
    """An empty queue with the statistics of ``kind``, then EVENTS pending events of ``key``."""
    conn.execute("DELETE FROM motion.key_runs")
    conn.execute("DELETE FROM motion.jobs")
    conn.execute("DELETE FROM motion.runs")
    if kind == "drained":  # the worker drained the queue; analyzed before and after it emptied
        _enqueue(conn, key, 2000, "done", 1)
        conn.execute("VACUUM ANALYZE motion.jobs")
        conn.execute("DELETE FROM motion.jobs")
        conn.execute("VACUUM ANALYZE motion.jobs")
    elif kind == "one-batch":  # analyzed while the queue was one running keyed batch
        _enqueue(conn, key, 2000, "running", 1)
        conn.execute("VACUUM ANALYZE motion.jobs")
        conn.execute("DELETE FROM motion.jobs")
    elif kind == "never":  # vacuumed empty, never analyzed with rows
        conn.execute("VACUUM ANALYZE motion.jobs")
    _enqueue(conn, key, EVENTS)
    if kind == "fresh":
        conn.execute("VACUUM ANALYZE motion.jobs")


def _shape(plan: dict[str, Any]) -> list[str]:
    """The plan's reads of motion.jobs: node type and index of each (the join order aside)."""
    return sorted(f"{cte or 'main'}: {n['Node Type']} {n.get('Index Name', '')}"
                  for cte, n in _jobs_scans(plan))  # fmt: skip


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_the_keyed_claim_has_one_plan_and_cost_under_any_statistics(
    conn: psycopg.Connection[Any], layout: str
) -> None:
    """Over 20k pending events (a key per event, or 100 keys), with fresh, stale (drained, one
    running batch) and no statistics: the same plan, index reads only, and a few buffers per event
    taken."""
    conn.execute(TABLES)
    motion_pg.execute(conn, CREATE.format(apps=APPS))
    conn.execute("SET jit = off")  # as the worker's connection runs its statements
    shapes: dict[str, list[str]] = {}
    plans: dict[str, str] = {}
    costs: dict[str, int] = {}
    params = ["w", 30.0, BATCH, []]
    for kind in KINDS:
        # PL/pgSQL keeps a generic plan after a few calls: it must be as good as the custom one.
        # Each on a queue of its own: a claim rolled back leaves dead rows the next one would read
        for plan_kind, explain in [("custom", _explain), ("generic", _explain_generic)]:
            _statistics(conn, kind, LAYOUTS[layout])
            plan = explain(conn, "claim_keyed_jobs", params)
            described = f"statistics {kind}, {layout}, {plan_kind} plan:\n" + _describe(plan)
            plans[f"{kind} {plan_kind}"] = described
            assert plan["Actual Rows"] == BATCH, described
            for _, node in _nodes(plan):
                if node.get("Relation Name") == "jobs" or node.get("Index Name", "").startswith(
                    "jobs_"
                ):
                    assert node["Node Type"] not in ("Seq Scan", "Bitmap Heap Scan", "Bitmap Index Scan"), (
                        f"a {node['Node Type']} of motion.jobs:\n" + described
                    )  # fmt: skip
            assert _buffers(plan) < CLAIM_BUFFERS, described
            shapes[f"{kind} {plan_kind}"] = _shape(plan)
            costs[f"{kind} {plan_kind}"] = _buffers(plan)
    assert all(s == shapes["fresh custom"] for s in shapes.values()), "\n\n".join(plans.values())
    # the same cost: what differs is the heap's layout after each history, not the walk
    assert max(costs.values()) < 1.25 * min(costs.values()), costs


# the claims' calls as the worker's claim step makes them; the function names the statement
CLAIMS = {
    "keyed": "motion._claim_keyed('w', 30, 1000, '{}')",
    "plain": "motion._claim_plain('w', 30, 1000, '{}', '{}', 1000, 1000000000)",
}


def test_the_plain_claim_is_planned_once_per_session_not_per_call(
    conn: psycopg.Connection[Any],
) -> None:
    """The plain claim's statement keeps its plan across calls (PL/pgSQL): a LANGUAGE sql
    function's body is parsed and planned again on every call, most of a one-event claim's server
    time. Plans are counted with debug_print_plan, which logs each one to the client. (The keyed
    claim stays LANGUAGE sql: see the next test.)"""
    conn.execute(TABLES)
    motion_pg.execute(conn, CREATE.format(apps=APPS))
    plans: list[str] = []
    conn.add_notice_handler(
        lambda d: (
            plans.append(d.message_primary or "") if d.severity_nonlocalized == "LOG" else None
        )
    )
    loop = "DO $$ BEGIN FOR i IN 1..{n} LOOP PERFORM * FROM {call}; END LOOP; END $$"
    conn.execute("SET client_min_messages = log")
    conn.execute("SET debug_print_plan = on")
    # the first calls: PL/pgSQL plans five custom plans, then settles on the generic one
    conn.execute(loop.format(n=10, call=CLAIMS["plain"]))
    counts = []
    for n in (20, 40):  # a DO block's own statements are planned once each, whatever n
        plans.clear()
        conn.execute(loop.format(n=n, call=CLAIMS["plain"]))
        counts.append(len(plans))
    conn.execute("RESET debug_print_plan")
    assert counts[0] == counts[1], f"20 and 40 calls of the plain claim made {counts} plans"


@pytest.mark.parametrize("claim", list(CLAIMS))
def test_a_claim_planned_on_an_empty_queue_serves_a_deep_one(
    conn: psycopg.Connection[Any], claim: str
) -> None:
    """A worker polls an empty queue (a plan cached then, if the claim caches one), then 20k events
    arrive: its next claim must still take its batch by index. The keyed claim as PL/pgSQL kept a
    plan made for an empty motion.jobs and ran for minutes per claim (B9 went from 799 to 73 ev/s):
    a cached plan does not follow the table's size until it is analyzed again."""
    conn.execute(TABLES)
    motion_pg.execute(conn, CREATE.format(apps=APPS))
    if claim == "plain":
        create_tally(conn, "tally", "fit_batch = 1000")
    conn.execute("VACUUM ANALYZE motion.jobs")
    conn.execute("SET jit = off")
    for _ in range(10):  # more than the five custom plans PL/pgSQL makes before a generic one
        conn.execute(f"SELECT count(*) FROM {CLAIMS[claim]}")
    if claim == "plain":
        conn.execute(
            "INSERT INTO motion.jobs (trigger_name, route, relation, op, row_data)"
            " SELECT 'tally', 0, 'public.tally', 'INSERT', jsonb_build_object('id', g, 'value', g)"
            " FROM generate_series(1, %s) g",
            [EVENTS],
        )
    else:
        _enqueue(conn, "g", EVENTS)
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL statement_timeout = '20s'")  # a sound claim takes well under 1 s
        row = conn.execute(f"SELECT count(*) FROM {CLAIMS[claim]}").fetchone()
    assert row == (1000,)
