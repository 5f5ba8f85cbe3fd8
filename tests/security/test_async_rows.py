"""The recording tables of async infer (``infer_mode = 'async'``) against non-admin roles.

An application role's writes are recorded (through motion's SECURITY DEFINER trigger functions),
but no role other than an administrator may read the recorded rows (they name rows of any
relation), forge or delete entries, mark its own transaction as the worker's write-back (which
would skip recording, fit events and the lineage guard), or call the recording functions from a
trigger of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

import motion_pg
from motion_pg.worker.async_loop import drain

from .conftest import ITEMS, Role, jobs


@pytest.fixture
def writer(conn: psycopg.Connection[Any], make_role: Callable[[], Role]) -> Role:
    """``items`` routed by the async trigger ``counter``, and a role that may write it."""
    conn.execute(ITEMS)
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.asynchronous:AsyncDoubler'"
        " WITH (infer_mode = 'async')",
    )
    role = make_role()
    ident = sql.Identifier(role.name)
    conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON items TO {}").format(ident))
    conn.execute(sql.SQL("GRANT USAGE ON SEQUENCE items_id_seq TO {}").format(ident))
    return role


def recorded(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT count(*) FROM motion.async_rows").fetchone()
    assert row is not None
    return int(row[0])


def test_an_application_roles_writes_are_recorded_and_inferred(
    conn: psycopg.Connection[Any], dsn: str, writer: Role
) -> None:
    with writer.connect() as app:
        app.execute("INSERT INTO items (value) VALUES (1), (2)")
    assert recorded(conn) == 2
    drain(dsn)
    assert conn.execute("SELECT doubled FROM items ORDER BY id").fetchall() == [(2,), (4,)]


@pytest.mark.parametrize("table", ["async_rows", "async_stats", "async_writebacks"])
def test_no_other_role_reads_the_recording_tables(
    conn: psycopg.Connection[Any], writer: Role, attacker: Role, table: str
) -> None:
    with writer.connect() as app:
        app.execute("INSERT INTO items (value) VALUES (1)")
    for role in (writer, attacker):
        with role.connect() as other, pytest.raises(psycopg.errors.InsufficientPrivilege):
            other.execute(sql.SQL("SELECT * FROM motion.{}").format(sql.Identifier(table)))


def test_no_other_role_forges_or_deletes_entries(
    conn: psycopg.Connection[Any], writer: Role
) -> None:
    with writer.connect() as app:
        app.execute("INSERT INTO items (value) VALUES (1)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(
                "INSERT INTO motion.async_rows (trigger_name, route, row_key, xact, role)"
                """ VALUES ('counter', 0, '{"id": 1}', 1, 1)"""
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("DELETE FROM motion.async_rows")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("INSERT INTO motion.async_writebacks VALUES (pg_current_xact_id())")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("SELECT motion._async_writing()")
    assert recorded(conn) == 1


def test_the_write_back_mark_cannot_be_forged_with_a_setting(
    conn: psycopg.Connection[Any], dsn: str, writer: Role
) -> None:
    conn.execute("INSERT INTO items (value) VALUES (1)")
    drain(dsn)
    genuine = conn.execute("SELECT counter_lineage FROM items").fetchone()
    assert genuine is not None and genuine[0] is not None
    before = jobs(conn)
    with writer.connect() as app:
        app.execute("SET motion.async_writeback = 'on'")
        app.execute("INSERT INTO items (value) VALUES (2)")
        app.execute("UPDATE items SET value = 3 WHERE value = 2")
        app.execute("UPDATE items SET counter_lineage = '\\x0102' WHERE value = 1")
    assert recorded(conn) == 3  # every write of the role (the route has no column list)
    assert jobs(conn) == before + 3  # fit events were enqueued as usual
    kept = conn.execute("SELECT counter_lineage FROM items WHERE value = 1").fetchone()
    assert kept == genuine  # the guard kept the row's own stamp


def test_a_role_cannot_call_the_recording_functions_from_its_own_trigger(
    conn: psycopg.Connection[Any], attacker: Role
) -> None:
    conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(
        sql.Identifier(attacker.name)))  # fmt: skip
    with attacker.connect() as evil:
        evil.execute("CREATE TABLE mine (id int PRIMARY KEY)")
        for function in ("async_record", "async_record_row"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                evil.execute(
                    sql.SQL(
                        "CREATE TRIGGER t AFTER INSERT ON mine FOR EACH ROW "
                        "EXECUTE FUNCTION motion.{}('counter', '0')"
                    ).format(sql.Identifier(function))
                )


def test_an_administrators_stray_trigger_is_refused(conn: psycopg.Connection[Any]) -> None:
    conn.execute("CREATE TABLE other (id int PRIMARY KEY)")
    conn.execute(
        "CREATE TRIGGER stray AFTER INSERT ON other REFERENCING NEW TABLE AS motion_new_rows"
        " FOR EACH STATEMENT EXECUTE FUNCTION motion.async_record('counter', '0')"
    )
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="did not create it"):
        conn.execute("INSERT INTO other VALUES (1)")
