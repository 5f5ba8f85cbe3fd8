"""Reading state and waiting for fits are administrators' only: motion.state unpickles state in the
server and shows what a trigger learned; motion.wait_for_fits reveals queue contents by timing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from .conftest import Role

CALLS = [
    "SELECT motion.state('counter')",
    "SELECT motion.state('counter', 1)",
    "SELECT motion.wait_for_fits('counter', '1 s')",
    "SELECT motion.wait_for_fits(NULL)",
]


@pytest.mark.parametrize("statement", CALLS)
def test_other_roles_cannot_read_state_or_wait(
    counter: None, attacker: Role, statement: str
) -> None:
    with attacker.connect() as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute(statement)


@pytest.mark.parametrize("statement", CALLS)
def test_an_application_role_that_writes_the_relation_cannot_either(
    conn: psycopg.Connection[Any], counter: None, make_role: Callable[[], Role], statement: str
) -> None:
    app = make_role()
    conn.execute(f'GRANT SELECT, INSERT, UPDATE ON items TO "{app.name}"')
    conn.execute(f'GRANT USAGE ON SEQUENCE items_id_seq TO "{app.name}"')
    with app.connect() as c:
        c.execute("INSERT INTO items (value) VALUES (1)")  # the role does write through motion
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(statement)
