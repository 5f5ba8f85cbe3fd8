"""Issue 9 item 4: nothing a client can SET changes what motion does.

Before the fix, ``SET motion.writeback = '<relation oid>'`` made a session's writes enqueue no fit
events, and ``SET motion.serving_<md5>`` pinned a session to an old state version. What steers the
infer and enqueue paths now lives in the backend's Python memory.
"""

from __future__ import annotations

import hashlib
from typing import Any

import psycopg
import pytest
from psycopg import sql

import motion_pg
from motion_pg.worker import Worker

from .conftest import Role, jobs


def serving_token(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        "SELECT revision || ':' || coalesce(serving_version, 0) || ':' || enabled"
        " FROM motion.triggers WHERE name = 'counter'"
    ).fetchone()
    assert row is not None
    return str(row[0])


def test_set_writeback_does_not_drop_fit_events(conn: psycopg.Connection[Any], app: Role) -> None:
    with app.connect() as c:
        relid = c.execute("SELECT 'items'::regclass::oid::text").fetchone()
        assert relid is not None
        c.execute(sql.SQL("SET motion.writeback = {}").format(sql.Literal(relid[0])))
        c.execute("INSERT INTO items (value) VALUES (1), (2)")
        c.execute("UPDATE items SET value = value + 1")
    assert jobs(conn) == 4


def test_set_writeback_does_not_drop_row_level_fit_events(
    conn: psycopg.Connection[Any], app: Role
) -> None:
    """The row-level enqueue (UPDATE OF listed columns)."""
    conn.execute("CREATE TABLE notes (id int PRIMARY KEY, value int NOT NULL, label text)")
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER tag ON notes (value) USING 'motion_test_apps.security:Tag'"
    )
    conn.execute("INSERT INTO notes VALUES (1, 1)")
    conn.execute(sql.SQL("GRANT SELECT, UPDATE ON notes TO {}").format(sql.Identifier(app.name)))
    with app.connect() as c:
        relid = c.execute("SELECT 'notes'::regclass::oid::text").fetchone()
        assert relid is not None
        c.execute(sql.SQL("SET motion.writeback = {}").format(sql.Literal(relid[0])))
        c.execute("UPDATE notes SET value = 2")
    assert jobs(conn, "tag") == 2


def test_set_serving_does_not_pin_an_old_version(
    conn: psycopg.Connection[Any], dsn: str, app: Role
) -> None:
    with app.connect() as c:
        c.execute("INSERT INTO items (value) VALUES (1)")  # loads version 1
        assert Worker(dsn, poll_interval=0.05).run(once=True) == 1  # fit: version 2 serves
        setting = "motion.serving_" + hashlib.md5(b"counter").hexdigest()
        c.execute(
            sql.SQL("SET {} = {}").format(
                sql.Identifier(*setting.split(".")), sql.Literal(serving_token(conn))
            )
        )
        got = c.execute("INSERT INTO items (value) VALUES (2) RETURNING seen_version").fetchone()
    assert got == (2,)


def test_reset_or_garbage_settings_change_nothing(conn: psycopg.Connection[Any], app: Role) -> None:
    """Any value of any motion.* setting: the next statement still serves and enqueues."""
    setting = "motion.serving_" + hashlib.md5(b"counter").hexdigest()
    with app.connect() as c:
        for value in ["", "garbage", "0:0:false"]:
            c.execute(sql.SQL("SET {} = {}").format(
                sql.Identifier(*setting.split(".")), sql.Literal(value)))  # fmt: skip
            c.execute("SET motion.writeback = ''")
            got = c.execute("INSERT INTO items (value) VALUES (5) RETURNING doubled").fetchone()
            assert got == (10,)
    assert jobs(conn) == 3


@pytest.mark.parametrize("path", ["pg_temp, public", '"$user", pg_catalog'])
def test_session_search_path_changes_nothing(
    conn: psycopg.Connection[Any], app: Role, path: str
) -> None:
    """Impostors in the role's temp schema (tables and functions named like what motion's trigger
    functions use) and any search_path: motion resolves only its own and pg_catalog's."""
    with app.connect() as c:
        c.execute("CREATE TEMP TABLE jobs (trigger_name text, route int, relation text, op text,"
                  " row_data jsonb)")  # fmt: skip
        c.execute("CREATE TEMP TABLE routes (x int)")
        c.execute("CREATE TEMP TABLE triggers (x int)")
        c.execute("CREATE TEMP TABLE motion_new_rows (x int)")
        c.execute(
            "CREATE FUNCTION pg_temp.to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql"
            " AS $$ SELECT '{\"forged\": true}'::jsonb $$"
        )
        c.execute(
            "CREATE FUNCTION pg_temp.pg_notify(text, text) RETURNS void LANGUAGE sql AS $$ $$"
        )
        c.execute(f"SET search_path = {path}")
        got = c.execute("INSERT INTO public.items (value) VALUES (4) RETURNING doubled").fetchone()
        assert got == (8,)
        assert c.execute("SELECT count(*) FROM pg_temp.jobs").fetchone() == (0,)
    row = conn.execute("SELECT row_data FROM motion.jobs").fetchone()
    assert row is not None and row[0]["value"] == 4
