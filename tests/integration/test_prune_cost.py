"""Retention's key-state prune costs what the pruned versions hold, not what was pruned before.

motion._prune_key_states (the AFTER UPDATE trigger of motion.versions that motion.prune's marking
fires) looked up the oldest kept version once per pruned version, each lookup walking every
tombstone (a pruned version keeps its row) of the trigger in versions_pkey: ~1M buffers and
0.3-0.6 s per prune round at ~730 versions, once a minute in the worker loop. Measured in
buffers (EXPLAIN's, through auto_explain of the trigger's statement), not time: not flaky.
"""

from __future__ import annotations

from typing import Any

import psycopg

import motion_pg

from .logged_plans import logged_plans, plan_of
from .test_claim_plan import _nodes
from .test_keyed_state import APPS, CREATE, TABLES

VERSIONS = 730
KEYS = 50
KEEP = 100


def _nested(
    conn: psycopg.Connection[Any], statement: str, params: list[Any]
) -> list[dict[str, Any]]:
    """The plans (auto_explain, JSON, with buffers) of every statement ``statement`` ran."""
    with conn.transaction(), logged_plans(conn, analyze=True) as messages:
        conn.execute(statement, params)
    return [plan_of(m) for m in messages]


def _statement_buffers(plan: dict[str, Any]) -> int:
    top = plan["Plan"]
    return int(top.get("Shared Hit Blocks", 0)) + int(top.get("Shared Read Blocks", 0))


def _keyed_history(conn: psycopg.Connection[Any]) -> None:
    """A keyed trigger with VERSIONS versions (each changing a few of KEYS keys), the older ones
    already pruned (tombstones), as months of a worker's prune rounds leave it."""
    conn.execute(TABLES)
    motion_pg.execute(conn, CREATE.format(apps=APPS))
    conn.execute(
        "INSERT INTO motion.versions (trigger_name, version, source, params, settings)"
        " SELECT 'summary', g, 'fit', '{}', t.settings FROM generate_series(2, %s) g,"
        " motion.triggers t WHERE t.name = 'summary' ON CONFLICT DO NOTHING",
        [VERSIONS],
    )
    conn.execute(
        "INSERT INTO motion.key_states (trigger_name, key, version, data)"
        " SELECT 'summary', jsonb_build_array(k), g, '\\x00' FROM generate_series(1, %s) g,"
        " generate_series(1, %s) k WHERE (g + k) %% 7 = 0 ON CONFLICT DO NOTHING",
        [VERSIONS, KEYS],
    )
    conn.execute("UPDATE motion.triggers SET settings.keep_versions = %s, serving_version = %s"
                 " WHERE name = 'summary'", [KEEP, VERSIONS])  # fmt: skip
    # the earlier rounds: all but the last 30 versions outside the policy are tombstones
    conn.execute("UPDATE motion.versions SET pruned_at = now() WHERE trigger_name = 'summary'"
                 " AND version <= %s", [VERSIONS - KEEP - 30])  # fmt: skip
    conn.execute("ANALYZE motion.versions")
    conn.execute("ANALYZE motion.key_states")


def _superseded(conn: psycopg.Connection[Any], kept: int) -> int:
    """Key rows below ``kept`` that a newer row of their key at or below it supersedes."""
    row = conn.execute(
        "SELECT count(*) FROM motion.key_states s WHERE s.trigger_name = 'summary'"
        " AND s.version < %s AND EXISTS (SELECT FROM motion.key_states k"
        " WHERE k.trigger_name = s.trigger_name AND k.key = s.key AND k.version > s.version"
        " AND k.version <= %s)",
        [kept, kept],
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_prune_round_costs_the_versions_it_prunes_not_the_tombstones(
    conn: psycopg.Connection[Any],
) -> None:
    """One worker prune round (motion.prune, batch 1000) over 730 versions of a keyed trigger, 600
    of them tombstones: the key-state prune it fires reads a bounded number of buffers (it read
    one walk of every tombstone per pruned version), and drops the superseded key rows."""
    _keyed_history(conn)
    before = conn.execute("SELECT count(*) FROM motion.key_states").fetchone()
    kept = VERSIONS - KEEP + 1
    doomed = _superseded(conn, kept)
    assert doomed > 0
    plans = _nested(conn, "SELECT * FROM motion.prune('summary', false, 1000)", [])
    pruned = [p for p in plans if "DELETE FROM motion.key_states" in p["Query Text"]]
    assert len(pruned) == 1, [p["Query Text"] for p in plans]
    plan = pruned[0]
    buffers = _statement_buffers(plan)
    print(f"key-state prune: {buffers} buffers, {plan['ms']} ms")
    after = conn.execute("SELECT count(*) FROM motion.key_states").fetchone()
    assert before is not None and after is not None and after[0] == before[0] - doomed
    assert _superseded(conn, kept) == 0
    assert buffers < 3_000, f"{buffers} buffers:\n" + "\n".join(
        f"{n['Node Type']} {n.get('Index Name', n.get('Relation Name', ''))}"
        f" loops={n.get('Actual Loops')} hit={n.get('Shared Hit Blocks')}"
        for _, n in _nodes(plan["Plan"])
    )
