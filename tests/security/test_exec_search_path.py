"""Issue 9 item 3: motion.exec must not run functions of a schema on the admin's search_path.

A role owning a schema the admin has on the search_path defines functions that shadow the ones
motion's SQL calls (an exact argument-type match beats pg_catalog's); each tries to make the role
a superuser, which succeeds if it ever runs as the admin. The admin then runs every kind of motion
statement through that search_path: the role must stay a plain role, and the statements still work.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

import motion_pg
from tests.integration.conftest import conn, dsn, motion_template, pg_cluster, psql

__all__ = ["conn", "dsn", "motion_template", "pg_cluster"]

pytestmark = pytest.mark.integration

# (function signature, its return type, how it answers after the escalation attempt)
SHADOWS = [
    ("quote_ident(name)", "text", "pg_catalog.quote_ident($1::text)"),
    ("nextval(text)", "bigint", "pg_catalog.nextval($1::regclass)"),
    ("to_jsonb(motion.settings)", "jsonb", "pg_catalog.row_to_json($1)::jsonb"),
    ("array_position(int2vector, smallint)", "integer",
     "pg_catalog.array_position($1::smallint[], $2)"),
    ("format(text, name)", "text", "pg_catalog.format($1, $2::text)"),
    ("lower(name)", "text", "pg_catalog.lower($1::text)"),
    ("jsonb_populate_record(motion.settings, text)", "motion.settings",
     "pg_catalog.jsonb_populate_record($1, $2::jsonb)"),
    ("set_config(text, text, bool)", "text", "pg_catalog.set_config($1, $2, $3)"),
]  # fmt: skip


@pytest.fixture
def hostile(conn: psycopg.Connection[Any]) -> Iterator[str]:
    """A role owning schema ``hostile_<id>`` full of shadowing functions; yields its name."""
    role = f"mp_hostile_{uuid.uuid4().hex[:8]}"
    ident = sql.Identifier(role)
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER").format(ident))
    conn.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(ident, ident))
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA motion TO {}").format(ident))  # for the types
    conn.execute(sql.SQL("SET ROLE {}").format(ident))
    for signature, returns, answer in SHADOWS:
        conn.execute(
            sql.SQL(
                "CREATE FUNCTION {schema}.{sig} RETURNS {returns} LANGUAGE plpgsql AS $f$\n"
                "BEGIN\n"
                "  BEGIN EXECUTE 'ALTER ROLE ' || pg_catalog.quote_ident({role}) || ' SUPERUSER';\n"
                "  EXCEPTION WHEN others THEN NULL; END;\n"
                "  RETURN {answer};\n"
                "END $f$"
            ).format(
                schema=ident,
                sig=sql.SQL(signature),
                returns=sql.SQL(returns),
                role=sql.Literal(role),
                answer=sql.SQL(answer),
            )
        )
    conn.execute("RESET ROLE")
    yield role
    conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(ident))
    conn.execute(sql.SQL("REVOKE ALL ON SCHEMA motion FROM {}").format(ident))
    conn.execute(sql.SQL("DROP ROLE {}").format(ident))


def is_superuser(conn: psycopg.Connection[Any], role: str) -> bool:
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role]).fetchone()
    assert row is not None
    return bool(row[0])


STATEMENTS = [
    "CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.basic:Counter'"
    " WITH (fit_batch = 10, factor = 3)",
    "ALTER MOTION TRIGGER counter SET (factor = 4, max_attempts = 3)",
    "ALTER MOTION TRIGGER counter DISABLE",
    "ALTER MOTION TRIGGER counter ENABLE",
    "ALTER MOTION TRIGGER counter REFIT",
    "ALTER MOTION TRIGGER counter ROLLBACK TO VERSION 1",
    "CREATE OR REPLACE MOTION TRIGGER counter ON items USING 'motion_test_apps.basic:Counter'",
    "SHOW MOTION TRIGGERS",
    "DROP MOTION TRIGGER counter",
]


def test_python_door_under_a_hostile_search_path(
    conn: psycopg.Connection[Any], hostile: str
) -> None:
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int, doubled int,"
                 " seen_version int)")  # fmt: skip
    conn.execute(sql.SQL("SET search_path = {}, public").format(sql.Identifier(hostile)))
    for statement in STATEMENTS:
        motion_pg.execute(conn, statement)
        assert not is_superuser(conn, hostile), f"escalated by: {statement}"
    # the shadows are live: a call as the admin would have escalated
    conn.execute("SELECT quote_ident(relname) FROM pg_class LIMIT 1")
    assert is_superuser(conn, hostile)


def test_sql_door_under_a_hostile_search_path(
    conn: psycopg.Connection[Any], dsn: str, hostile: str
) -> None:
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int, doubled int,"
                 " seen_version int)")  # fmt: skip
    path = f"SET search_path = {hostile}, public"
    psql(dsn, path, *(f"SELECT motion.exec($m${s}$m$)" for s in STATEMENTS[:-1]))
    assert not is_superuser(conn, hostile)
    # mixed text: the plain SQL runs under the caller's path, the motion statements pinned
    psql(dsn, path, "SELECT motion.exec($m$INSERT INTO items (value) VALUES (1);"
         " DROP MOTION TRIGGER counter$m$)")  # fmt: skip
    assert not is_superuser(conn, hostile)
    assert conn.execute("SELECT count(*) FROM public.items").fetchone() == (1,)
