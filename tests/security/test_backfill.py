"""Backfill (issue 11 item 2): what marks a backfill's own write-back — so that it neither
enqueues fit events nor fires motion's triggers — is this backend's memory, set only by motion's
code; the transaction-local setting ``motion.backfilling`` is a pre-filter with no authority. A
role that sets it still has its writes inferred and its fit events queued, and only
administrators may run a backfill. (*guard*: these held before the backfill existed.)"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

import motion_pg

from .conftest import Role, jobs


@pytest.mark.parametrize("scope", ["SET", "SET LOCAL"])
def test_set_backfilling_neither_drops_fit_events_nor_skips_infer(
    conn: psycopg.Connection[Any], app: Role, scope: str
) -> None:
    conn.execute("INSERT INTO items (value) VALUES (1), (2)")
    before = jobs(conn)
    with app.connect() as c, c.transaction():
        c.execute(f"{scope} motion.backfilling = 'on'")
        c.execute("UPDATE items SET value = value + 10")
        c.execute("INSERT INTO items (value) VALUES (5)")
    assert jobs(conn) == before + 3
    found = conn.execute("SELECT value, doubled FROM items ORDER BY id").fetchall()
    assert found == [(11, 22), (12, 24), (5, 10)]


def test_set_backfilling_does_not_drop_row_level_fit_events(
    conn: psycopg.Connection[Any], app: Role
) -> None:
    """The row-level enqueue (UPDATE OF listed columns) and the lineage guard."""
    conn.execute("CREATE TABLE notes (id int PRIMARY KEY, value int NOT NULL, label text)")
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER tag ON notes (value) USING 'motion_test_apps.security:Tag'"
    )
    conn.execute("INSERT INTO notes VALUES (1, 1)")
    conn.execute(sql.SQL("GRANT SELECT, UPDATE ON notes TO {}").format(sql.Identifier(app.name)))
    with app.connect() as c:
        c.execute("SET motion.backfilling = 'on'")
        c.execute("UPDATE notes SET value = 2")
        c.execute("UPDATE notes SET label = 'forged'")  # an edit of an inferred value: recorded
    assert jobs(conn, "tag") == 2
    changes = conn.execute(
        "SELECT changed FROM motion.lineage_changes WHERE trigger_name = 'tag'"
    ).fetchall()
    assert changes == [(["label"],)]


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT motion.backfill_start('counter')",
        "SELECT motion.backfill_step(1)",
        "CALL motion.backfill('counter')",
        "SELECT motion.exec('ALTER MOTION TRIGGER counter BACKFILL')",
    ],
)
def test_backfill_is_for_administrators_only(
    conn: psycopg.Connection[Any], app: Role, statement: str
) -> None:
    conn.execute("SELECT motion.backfill_start('counter')")  # a run exists (id 1)
    with app.connect() as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute(statement)
    row = conn.execute("SELECT visited FROM motion.backfills").fetchone()
    assert row == (0,)
