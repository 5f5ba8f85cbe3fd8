"""Pruning is administrators' only: motion.prune removes state and event data, and its dry run and
motion._pruned_message reveal a trigger's versions and event volume."""

from __future__ import annotations

import psycopg
import pytest

from .conftest import Role

CALLS = [
    "SELECT * FROM motion.prune()",
    "SELECT * FROM motion.prune('counter', true)",
    "SELECT * FROM motion.prune('counter', false, 10)",
    "SELECT motion._pruned_message('counter', 1)",
]


@pytest.mark.parametrize("statement", CALLS)
def test_other_roles_cannot_prune(counter: None, attacker: Role, statement: str) -> None:
    with attacker.connect() as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute(statement)
