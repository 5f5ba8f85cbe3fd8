"""The keyed fit's reads of motion.key_states stay per key: a run of 100 keys reads a few buffers
per key however many keys the trigger has. (The DISTINCT ON ... key = ANY it replaced was planned,
in the bench's drain, as a bitmap scan of key_states_by_version reading every row of the trigger:
~20 ms per call at 5,000 keys, growing with the keys. This test guards the new statement; it did not
reproduce that plan for the old one.)"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import motion_pg

from .test_claim_plan import _buffers, _describe, _explain, _nodes
from .test_keyed_state import APPS, CREATE, TABLES


@pytest.mark.parametrize("stats", ["small", "analyzed"])
def test_key_states_head_reads_by_index_per_key(conn: psycopg.Connection[Any], stats: str) -> None:
    """With the statistics of the table analyzed while it was small (autovacuum during a fresh
    trigger's first drain), or of the filled table."""
    conn.execute(TABLES)
    motion_pg.execute(conn, CREATE.format(apps=APPS))
    if stats == "small":
        conn.execute(
            "INSERT INTO motion.key_states (trigger_name, key, version, data)"
            " SELECT 'summary', jsonb_build_array(-g), 1, '\\x80'::bytea FROM generate_series(1, 2) g"
        )
        conn.execute("ANALYZE motion.key_states")
    conn.execute(
        "INSERT INTO motion.key_states (trigger_name, key, version, data)"
        " SELECT 'summary', jsonb_build_array(g % 50000), g / 50000 + 1, '\\x80'::bytea"
        " FROM generate_series(0, 99999) g"
    )
    if stats == "analyzed":
        conn.execute("VACUUM ANALYZE motion.key_states")
    conn.execute("SET jit = off")
    # the worker's statements are prepared (psycopg, from their fifth run): their generic plans
    conn.execute("SET plan_cache_mode = force_generic_plan")
    keys = [f"[{k}]" for k in range(1000, 1100)]
    for name in ("key_states_head", "key_states_before"):
        params: list[Any] = ["summary", keys] + ([3] if name == "key_states_before" else [])
        plan = _explain(conn, name, params)
        described = _describe(plan)
        assert plan["Actual Rows"] == 100, described
        for _, node in _nodes(plan):
            assert node["Node Type"] != "Seq Scan", f"{name} scans:\n" + described
        assert _buffers(plan) < 10 * 100, f"{name}:\n" + described
