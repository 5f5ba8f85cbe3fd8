"""Issue 9 item 5: motion.warm tells no role which triggers exist or their versions.

EXECUTE is revoked from PUBLIC (an administrator grants it to a pool role), and even then it
answers only for a trigger with a relation the session's login role may write to; any other
trigger looks exactly like an absent one.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from motion_pg.errors import UnknownTrigger

from .conftest import Role


def grant_warm(conn: psycopg.Connection[Any], role: Role) -> None:
    conn.execute(
        sql.SQL("GRANT EXECUTE ON FUNCTION motion.warm(text) TO {}").format(
            sql.Identifier(role.name)
        )
    )


def test_warm_is_refused_to_a_role_without_grants(counter: None, attacker: Role) -> None:
    with attacker.connect() as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute("SELECT motion.warm('counter')")


def test_warm_granted_reveals_nothing_of_tables_the_role_cannot_write(
    conn: psycopg.Connection[Any], counter: None, attacker: Role
) -> None:
    grant_warm(conn, attacker)
    with attacker.connect() as c:
        errors = []
        for name in ("counter", "no_such_trigger"):
            with pytest.raises(psycopg.errors.DatabaseError) as caught:
                c.execute("SELECT motion.warm(%s)", [name])
            assert caught.value.sqlstate == UnknownTrigger.sqlstate
            errors.append(str(caught.value).replace(name, "NAME"))
    assert errors[0] == errors[1]  # an existing trigger looks like an absent one


def test_warm_answers_a_pool_role_that_writes_the_relation(
    conn: psycopg.Connection[Any], app: Role
) -> None:
    grant_warm(conn, app)
    with app.connect() as c:
        assert c.execute("SELECT motion.warm('counter')").fetchone() == (1,)
