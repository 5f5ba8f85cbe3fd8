"""The owner of a routed relation controls its column types, casts and constraints, which motion's
functions evaluate as their superuser owner: a relation owned by any other role is refused."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

import motion_pg
from motion_pg.errors import DefinitionError

from .conftest import Role, is_superuser

# what the owning role could do once its table is routed: a column of its own type whose cast to
# json (to_jsonb in the enqueue function) runs ALTER ROLE as the function owner
EVIL_COLUMN = [
    "CREATE TYPE evil AS ENUM ('x')",
    "CREATE FUNCTION evil_json(evil) RETURNS json LANGUAGE plpgsql AS $f$"
    " BEGIN EXECUTE format('ALTER ROLE %I SUPERUSER', session_user); RETURN '{}'; END $f$",
    "CREATE CAST (evil AS json) WITH FUNCTION evil_json(evil)",
    "ALTER TABLE owned ADD COLUMN v evil",
]


def test_a_relation_owned_by_another_role_is_refused(
    conn: psycopg.Connection[Any], attacker: Role
) -> None:
    conn.execute(
        sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(attacker.name))
    )
    with attacker.connect() as c:
        c.execute(
            "CREATE TABLE owned (id serial PRIMARY KEY, value int, doubled int, seen_version int)"
        )
    with pytest.raises(DefinitionError) as refused:
        motion_pg.execute(
            conn, "CREATE MOTION TRIGGER counter ON owned USING 'motion_test_apps.basic:Counter'"
        )
    assert f'owned by role "{attacker.name}"' in str(refused.value)
    assert "OWNER TO an administrator" in str(refused.value)
    assert conn.execute("SELECT count(*) FROM motion.triggers").fetchone() == (0,)
    # what the refusal prevents: with a route in place the owner would become a superuser
    with attacker.connect() as c:
        for statement in EVIL_COLUMN:
            c.execute(statement)
        c.execute("INSERT INTO owned (value, v) VALUES (1, 'x')")
        c.execute("DROP CAST (evil AS json)")  # casts are not dropped by DROP OWNED
    assert not is_superuser(conn, attacker)


def test_the_same_relation_owned_by_an_administrator_is_routed(
    conn: psycopg.Connection[Any], attacker: Role
) -> None:
    conn.execute(
        "CREATE TABLE owned (id serial PRIMARY KEY, value int, doubled int, seen_version int)"
    )
    conn.execute(
        sql.SQL("GRANT INSERT, SELECT ON owned TO {}").format(sql.Identifier(attacker.name))
    )
    conn.execute(
        sql.SQL("GRANT USAGE ON SEQUENCE owned_id_seq TO {}").format(sql.Identifier(attacker.name))
    )
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER counter ON owned USING 'motion_test_apps.basic:Counter'"
    )
    with attacker.connect() as c:
        c.execute("INSERT INTO owned (value) VALUES (1)")
    assert conn.execute("SELECT count(*) FROM motion.jobs").fetchone() == (1,)
