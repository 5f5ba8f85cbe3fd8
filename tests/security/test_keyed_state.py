"""Keyed state (STATE PER) is administrators' only, like the rest of state: no other role reads a
key's state (motion.key_state, motion.key_states) or the keys running fits hold, and an
application role that writes rows infers with its key's state without being able to read it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.worker import Worker

from .conftest import Role

READS = [
    "SELECT motion.key_state('summary', '[1]')",
    "SELECT * FROM motion.key_states",
    "SELECT * FROM motion.key_runs",
    "SELECT motion._state_key('{\"user_id\": 1}', '{user_id}')",
]


@pytest.fixture
def summary(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(
        "CREATE TABLE messages (id serial PRIMARY KEY, user_id int NOT NULL, org text,"
        " body text, seen int, note text, key_version int);"
        "CREATE TABLE fit_log (key text, user_ids int[], ids bigint[], started float8,"
        " ended float8, pid int)"
    )
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER summary ON messages STATE PER (user_id)"
        " USING 'motion_test_apps.keyed:Summary'",
    )
    conn.execute("INSERT INTO messages (user_id, body) VALUES (1, 'secret')")
    Worker(dsn, poll_interval=0.05).run(once=True)


@pytest.mark.parametrize("statement", READS)
def test_other_roles_cannot_read_key_states(summary: None, attacker: Role, statement: str) -> None:
    with attacker.connect() as c, pytest.raises(psycopg.errors.InsufficientPrivilege):
        c.execute(statement)


def test_an_application_role_infers_with_its_key_but_cannot_read_states(
    conn: psycopg.Connection[Any], summary: None, make_role: Callable[[], Role]
) -> None:
    app = make_role()
    conn.execute(f'GRANT SELECT, INSERT ON messages TO "{app.name}"')
    conn.execute(f'GRANT USAGE ON SEQUENCE messages_id_seq TO "{app.name}"')
    with app.connect() as c:
        row = c.execute(
            "INSERT INTO messages (user_id, body) VALUES (1, 'x') RETURNING seen, note"
        ).fetchone()
        assert row == (1, "hi:new:1:1:secret")
        for statement in READS:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(statement)
