"""Backpressure records, violations and chains under other roles: no role but an administrator
reads or forges motion.discards and motion.violations, and an application role's writes still
propagate chains and record violations (through motion's own definer functions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

import motion_pg

from .conftest import Role

STATEMENTS = [
    "SELECT * FROM motion.discards",
    "SELECT * FROM motion.violations",
    "INSERT INTO motion.discards VALUES ('counter', 'keep_latest', now(), 1000, now(), now(), now())",
    "INSERT INTO motion.violations (trigger_name, stage, relation, column_name, problem)"
    " VALUES ('counter', 'infer', 'items', 'x', 'forged')",
    "DELETE FROM motion.violations",
    "UPDATE motion.discards SET events = 0",
    "SELECT nextval('motion.violations_id_seq')",
]


@pytest.mark.parametrize("statement", STATEMENTS)
def test_other_roles_cannot_read_or_forge_flow_records(
    counter: None, attacker: Role, statement: str
) -> None:
    with attacker.connect() as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute(statement)


def test_an_app_role_propagates_chains_and_records_violations(
    conn: psycopg.Connection[Any], make_role: Callable[[], Role]
) -> None:
    conn.execute("CREATE TABLE t (id serial PRIMARY KEY, a int, b int, c int, d int)")
    apps = "motion_test_apps.flow"
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER zz ON t (a) USING '{apps}:BFromA'")
    motion_pg.execute(
        conn,
        f"CREATE MOTION TRIGGER aa ON t (b) USING '{apps}:CFromB'"
        """ WITH (expect = '{"c": {"max": 10}}', on_violation = 'record')""",
    )
    role = make_role()
    ident = sql.Identifier(role.name)
    conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON t TO {}").format(ident))
    conn.execute(sql.SQL("GRANT USAGE ON SEQUENCE t_id_seq TO {}").format(ident))
    with role.connect() as c:
        c.execute("INSERT INTO t (a) VALUES (1)")
        c.execute("UPDATE t SET a = 9")
        assert c.execute("SELECT b, c FROM t").fetchone() == (18, 19)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("SELECT * FROM motion.violations")
    found = conn.execute("SELECT trigger_name, column_name, value FROM motion.violations")
    assert found.fetchall() == [("aa", "c", "19")]
