"""Lineage stamps stay exact per row when the rows of one statement write different columns
(the row path's one-column stamp shortcut), and are the narrow format 2."""

from __future__ import annotations

import json
from typing import Any

import psycopg

import motion_pg
from motion_pg.runtime import stamps


def _lineage(conn: psycopg.Connection[Any], key: int) -> dict[str, Any]:
    found = conn.execute("SELECT motion.lineage('items', %s::jsonb)", [json.dumps(key)]).fetchone()
    assert found is not None
    return dict(found[0]["triggers"][0])


def test_each_row_names_the_columns_its_infer_wrote(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE items (id int PRIMARY KEY, value int, doubled int, label text)")
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER varying ON items USING 'motion_test_apps.lineage_columns:Varying'",
    )
    # one statement: column sets alternate, and one column set repeats after another one
    conn.execute(
        "INSERT INTO items (id, value) SELECT g, v FROM unnest(ARRAY[0, 1, 4, 2, 3, 8, 5, 6, 7, 12])"
        " WITH ORDINALITY AS u(v, g)"
    )
    expected = {0: ["doubled"], 1: ["label"], 2: ["doubled", "label"], 3: ["doubled"]}
    rows = conn.execute("SELECT id, value, varying_lineage FROM items ORDER BY id").fetchall()
    assert len(rows) == 10
    heads = set()
    for key, value, raw in rows:
        found = _lineage(conn, key)
        assert found["stamped"], found
        assert sorted(found["inferred_columns"]) == expected[value % 4], (value, found)
        stamp = stamps.decode(bytes(raw))
        assert stamp.flags == stamps.WROTE
        heads.add((stamp.xact, stamp.micros, stamp.version))
        assert bytes(raw)[0] == 2 and len(bytes(raw)) <= 24  # format 2
    assert len(heads) == 1  # one statement


def test_a_new_statement_gets_its_own_stamp(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE items (id int PRIMARY KEY, value int, doubled int, label text)")
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER varying ON items USING 'motion_test_apps.lineage_columns:Varying'",
    )
    conn.execute("INSERT INTO items (id, value) VALUES (1, 4)")
    conn.execute("INSERT INTO items (id, value) VALUES (2, 8)")  # same column, next statement
    raw = [bytes(r[0]) for r in conn.execute("SELECT varying_lineage FROM items ORDER BY id")]
    first, second = (stamps.decode(r) for r in raw)
    assert first.attnums == second.attnums
    assert first.xact != second.xact
