"""Lineage cannot be made to lie by a role that writes the routed relation.

An application role with INSERT and UPDATE on a routed relation may write the lineage column
like any other: motion.lineage_clear drops a stamp an INSERT brings, and motion.lineage_guard
keeps the row's own stamp when an UPDATE that motion did not re-infer writes one (and records the
attempt in motion.lineage_changes, with the role). Only administrators read lineage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

import motion_pg
from motion_pg.runtime.stamps import decode as decode_stamp

from .conftest import ITEMS, Role


@pytest.fixture
def writer(conn: psycopg.Connection[Any], make_role: Callable[[], Role]) -> Role:
    """``items`` routed by ``counter`` on (value) only, and a role that may write it."""
    conn.execute(ITEMS)
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER counter ON items (value) USING 'motion_test_apps.basic:Counter'",
    )
    role = make_role()
    ident = sql.Identifier(role.name)
    conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON items TO {}").format(ident))
    conn.execute(sql.SQL("GRANT USAGE ON SEQUENCE items_id_seq TO {}").format(ident))
    return role


def stamps(conn: psycopg.Connection[Any]) -> dict[int, bytes | None]:
    rows = conn.execute("SELECT id, counter_lineage FROM items ORDER BY id").fetchall()
    return {r[0]: None if r[1] is None else bytes(r[1]) for r in rows}


def test_an_inserted_stamp_is_dropped(conn: psycopg.Connection[Any], writer: Role) -> None:
    conn.execute("INSERT INTO items (value) VALUES (1)")
    genuine = stamps(conn)[1]
    assert genuine is not None
    with writer.connect() as app:
        app.execute("INSERT INTO items (value, counter_lineage) VALUES (2, %s)", [genuine])
        motion_pg.execute(conn, "ALTER MOTION TRIGGER counter DISABLE")
        app.execute("INSERT INTO items (value, counter_lineage) VALUES (3, %s)", [genuine])
    found = stamps(conn)
    assert found[2] is not None and found[2] != genuine  # motion's own stamp for row 2
    assert found[3] is None  # not inferred: no stamp, whatever the client wrote


def test_an_updated_stamp_is_refused_and_recorded(
    conn: psycopg.Connection[Any], writer: Role
) -> None:
    conn.execute("INSERT INTO items (value) VALUES (1)")
    conn.execute("INSERT INTO items (value) VALUES (2)")
    before = stamps(conn)
    with writer.connect() as app:
        # copy row 2's genuine stamp onto row 1 and fake its output, without re-inferring it
        app.execute(
            "UPDATE items SET doubled = 99, counter_lineage = "
            "(SELECT counter_lineage FROM items WHERE id = 2) WHERE id = 1"
        )
        app.execute("UPDATE items SET counter_lineage = NULL WHERE id = 2")
    assert stamps(conn) == before
    rows = conn.execute(
        "SELECT row_key, changed, forged, forged_stamp, changed_by::text FROM "
        "motion.lineage_changes ORDER BY id"
    ).fetchall()
    assert rows == [
        ({"id": 1}, ["doubled"], True, before[2], writer.name),
        ({"id": 2}, [], True, None, writer.name),
    ]
    found = conn.execute("SELECT motion.lineage('items', '1')").fetchone()
    assert found is not None
    [change] = found[0]["triggers"][0]["changed_since"]
    assert change["forged_stamp_refused"] and change["inferred_columns"] == ["doubled"]


def test_a_stamp_copied_within_one_statement_time_is_refused(
    conn: psycopg.Connection[Any], writer: Role
) -> None:
    """A DO block's statements share statement_timestamp(): an UPDATE right after an inferred one
    still cannot take the stamp motion just wrote (the guard accepts a stamp only for the row
    motion's infer wrote it into)."""
    conn.execute("INSERT INTO items (value) VALUES (1)")
    original = stamps(conn)[1]
    with writer.connect() as app:
        app.execute("""
            DO $$ BEGIN
                INSERT INTO items (value) VALUES (5);
                UPDATE items SET value = 6 WHERE id = 2;
                UPDATE items SET doubled = 99, counter_lineage =
                    (SELECT counter_lineage FROM items WHERE id = 2) WHERE id = 1;
            END $$
        """)  # fmt: skip
    assert stamps(conn)[1] == original
    assert conn.execute(
        "SELECT forged FROM motion.lineage_changes WHERE row_key = '{\"id\": 1}'"
    ).fetchone() == (True,)


def test_a_reinferring_update_overwrites_a_forged_stamp(
    conn: psycopg.Connection[Any], writer: Role
) -> None:
    conn.execute("INSERT INTO items (value) VALUES (1)")
    with writer.connect() as app:
        app.execute("UPDATE items SET value = 2, counter_lineage = '\\x0100'::bytea WHERE id = 1")
    stamp = stamps(conn)[1]
    assert stamp is not None and stamp != b"\x01\x00"
    assert decode_stamp(bytes(stamp)).xact > 0  # motion's own stamp
    assert conn.execute("SELECT count(*) FROM motion.lineage_changes").fetchone() == (0,)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT motion.lineage('items', '1')",
        "SELECT * FROM motion.version_events('counter', 1)",
        "SELECT * FROM motion.lineage_changes",
        "INSERT INTO motion.lineage_changes (trigger_name, relation, lineage_column, row_key, "
        "changed, old_values) VALUES ('counter', 'items', 'counter_lineage', '{}', '{}', '{}')",
        "SELECT motion._lineage_accept('counter', 'counter_lineage', '\\x01'::bytea)",
    ],
)
def test_an_application_role_cannot_read_or_write_lineage(
    conn: psycopg.Connection[Any], writer: Role, statement: str
) -> None:
    conn.execute("INSERT INTO items (value) VALUES (1)")
    with writer.connect() as app, pytest.raises(psycopg.errors.InsufficientPrivilege):
        app.execute(statement)
