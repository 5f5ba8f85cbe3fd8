"""A writer chooses row keys; it must not choose which rows a canary serves (issue 11 item 3). The
split is an HMAC of the row key under a per-experiment secret salt that application roles cannot
read, so keys picked with the public hash of the key land in the canary at its share, no more."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.runtime.experiments import in_canary

from .conftest import ITEMS, Role

APPS = "motion_test_apps.experiments"


@pytest.fixture
def canary(conn: psycopg.Connection[Any]) -> None:
    """``items`` served by ``a``, ``b`` its 10 % canary (value 2: a says even, b odd)."""
    conn.execute(ITEMS.replace("seen_version int", "seen_version int, label text, score real"))
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER a ON items USING '{APPS}:Baseline'")
    motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER b ON items CANARY OF a (10) USING '{APPS}:Variant'"
    )


def test_keys_chosen_by_the_public_hash_do_not_steer_the_canary(
    conn: psycopg.Connection[Any], canary: None, make_role: Callable[[], Role]
) -> None:
    app = make_role()
    conn.execute(f'GRANT SELECT, INSERT, UPDATE ON items TO "{app.name}"')
    # every key the unsalted split (a hash anyone can compute) sends to a 10 % canary
    chosen = [i for i in range(1, 20_000) if in_canary({"id": i}, 10)][:300]
    with app.connect() as c:
        for statement in (
            "SELECT salt FROM motion.experiments",
            "SELECT * FROM motion.experiments",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(statement)
        c.execute("INSERT INTO items (id, value) SELECT g, 2 FROM unnest(%s::int[]) g", [chosen])
        served = c.execute("SELECT count(*) FROM items WHERE score = 0.5").fetchone()
    assert served is not None
    # with the secret salt the chosen keys land in the canary about 10 % of the time (30 of 300
    # expected; the unsalted split would have sent all 300)
    assert served[0] < 75
    salt = conn.execute("SELECT salt FROM motion.experiments WHERE trigger_name = 'b'").fetchone()
    assert salt is not None
    expected = sum(1 for i in chosen if in_canary({"id": i}, 10, salt[0]))
    assert served[0] == expected


def test_each_canary_has_its_own_salt_kept_when_replaced(
    conn: psycopg.Connection[Any], canary: None
) -> None:
    def salt_of(name: str) -> str:
        row = conn.execute(
            "SELECT salt FROM motion.experiments WHERE trigger_name = %s", [name]
        ).fetchone()
        assert row is not None and isinstance(row[0], str) and len(row[0]) == 32
        return str(row[0])

    first = salt_of("b")
    motion_pg.execute(
        conn, f"CREATE OR REPLACE MOTION TRIGGER b ON items CANARY OF a (10) USING '{APPS}:Variant'"
    )
    assert salt_of("b") == first  # the same rows stay in the canary
    conn.execute("CREATE TABLE other (LIKE items INCLUDING ALL)")
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER a2 ON other USING '{APPS}:Baseline'")
    motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER b2 ON other CANARY OF a2 (10) USING '{APPS}:Variant'"
    )
    assert salt_of("b2") != first
    # the salt is not in the definition text (SHOW MOTION TRIGGERS, pg_dump of the definition)
    definitions = json.dumps(conn.execute("SELECT definition FROM motion.triggers").fetchall())
    assert first not in definitions
