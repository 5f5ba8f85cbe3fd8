"""Issue 9 item 6 (enqueue side): column names never collide with motion's generated SQL.

The relations below have a column named after every alias, variable, function and keyword the
trigger functions and the batch write-back use. Their fit events must carry the full row as
stored, for INSERT and UPDATE, for routes with and without a column list, in row and batch mode.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

import motion_pg

NAMES = [
    "n", "t", "u", "r", "a", "k0", "v0", "new", "old", "motion_new_rows", "row_data",
    "trigger_name", "route", "relation", "op", "state", "serving", "tg_op", "tg_argv",
    "tg_relid", "tg_name", "tg_table_name", "found", "to_jsonb", "pg_notify",
]  # fmt: skip


def make(conn: psycopg.Connection[Any], columns: str, cls: str) -> None:
    extra = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(n)) for n in NAMES)
    conn.execute(
        sql.SQL("CREATE TABLE odd (id int PRIMARY KEY, value int NOT NULL, label text, {})").format(
            extra
        )
    )
    motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER tag ON odd {columns} USING 'motion_test_apps.security:{cls}'"
    )


def events(conn: psycopg.Connection[Any]) -> list[tuple[str, dict[str, Any]]]:
    return conn.execute("SELECT op, row_data FROM motion.jobs ORDER BY id").fetchall()


def stored(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """The stored row as fit events carry it: without motion's lineage column."""
    row = conn.execute("SELECT to_jsonb(o.*) - 'tag_lineage' FROM odd o").fetchone()
    assert row is not None
    return dict(row[0])


@pytest.mark.parametrize("cls", ["Tag", "BatchTag"])
@pytest.mark.parametrize("columns", ["", "(value)"])
def test_fit_events_carry_the_full_row(
    conn: psycopg.Connection[Any], columns: str, cls: str
) -> None:
    make(conn, columns, cls)
    values = sql.SQL(", ").join(sql.Literal(f"{n}!") for n in NAMES)
    names = sql.SQL(", ").join(map(sql.Identifier, NAMES))
    conn.execute(sql.SQL("INSERT INTO odd (id, value, {}) VALUES (1, 5, {})").format(names, values))
    inserted = stored(conn)
    assert inserted["label"] == "v5" and inserted["n"] == "n!"
    conn.execute("UPDATE odd SET value = 6")
    updated = stored(conn)
    assert updated["label"] == "v6"
    assert events(conn) == [("INSERT", inserted), ("UPDATE", updated)]


@pytest.mark.parametrize("columns", ["", "(value)"])
def test_null_columns_named_like_aliases(conn: psycopg.Connection[Any], columns: str) -> None:
    """A NULL column ``n`` once made the event NULL and every INSERT fail on NOT NULL."""
    make(conn, columns, "Tag")
    conn.execute("INSERT INTO odd (id, value) VALUES (1, 5)")
    conn.execute("UPDATE odd SET value = 6")
    assert [e[1]["value"] for e in events(conn)] == [5, 6]
    assert all(e[1]["n"] is None and len(e[1]) == len(NAMES) + 3 for e in events(conn))


@pytest.mark.parametrize("name", ["n", "tg_argv", "tg_op", "new"])
@pytest.mark.parametrize("columns", ["", "(value)"])
def test_one_colliding_column(conn: psycopg.Connection[Any], columns: str, name: str) -> None:
    """Each collision on its own: ``n`` was stored instead of the row, ``tg_argv`` and ``tg_op``
    made the enqueue query ambiguous."""
    conn.execute(
        sql.SQL(
            "CREATE TABLE odd (id int PRIMARY KEY, value int NOT NULL, label text, {} text)"
        ).format(sql.Identifier(name))
    )
    motion_pg.execute(
        conn, f"CREATE MOTION TRIGGER tag ON odd {columns} USING 'motion_test_apps.security:Tag'"
    )
    conn.execute(sql.SQL("INSERT INTO odd (id, value, {}) VALUES (1, 5, 'x')").format(
        sql.Identifier(name)))  # fmt: skip
    conn.execute("UPDATE odd SET value = 6")
    assert [(op, row["value"], row[name]) for op, row in events(conn)] == [
        ("INSERT", 5, "x"), ("UPDATE", 6, "x")
    ]  # fmt: skip
