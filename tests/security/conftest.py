"""The security suite: attacks replayed as real non-superuser login roles on the real Postgres.

It reuses the integration fixtures (a per-test database with motion installed) and adds login
roles that connect with a password, as an application or an attacker would.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

import motion_pg
from tests.integration.conftest import conn, dsn, motion_template, pg_cluster

__all__ = ["conn", "dsn", "motion_template", "pg_cluster"]

ITEMS = (
    "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int, seen_version int)"
)


@dataclass
class Role:
    """A login role of the test's cluster (not a superuser) and how to connect as it."""

    name: str
    dsn: str

    def connect(self) -> psycopg.Connection[Any]:
        """An autocommit connection as this role."""
        return psycopg.connect(self.dsn, autocommit=True)


@pytest.fixture
def make_role(conn: psycopg.Connection[Any], dsn: str) -> Iterator[Callable[[], Role]]:
    """Makes login roles with a password and no privileges; drops them after the test."""
    made: list[str] = []

    def make() -> Role:
        name = f"mp_role_{uuid.uuid4().hex[:10]}"
        password = uuid.uuid4().hex
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        made.append(name)
        return Role(name, make_conninfo(dsn, user=name, password=password))

    yield make
    for name in made:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [name]
        )
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.fixture
def attacker(make_role: Callable[[], Role]) -> Role:
    """A login role with no grants at all (it may create TEMP tables, as every role may)."""
    return make_role()


@pytest.fixture
def counter(conn: psycopg.Connection[Any]) -> None:
    """Table ``items`` routed by motion trigger ``counter`` (row-mode infer and fit)."""
    conn.execute(ITEMS)
    motion_pg.execute(
        conn, "CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.basic:Counter'"
    )


@pytest.fixture
def app(conn: psycopg.Connection[Any], make_role: Callable[[], Role], counter: None) -> Role:
    """An application role: INSERT, UPDATE, SELECT on ``items`` and nothing of schema motion."""
    role = make_role()
    ident = sql.Identifier(role.name)
    conn.execute(sql.SQL("GRANT SELECT, INSERT, UPDATE ON items TO {}").format(ident))
    conn.execute(sql.SQL("GRANT USAGE ON SEQUENCE items_id_seq TO {}").format(ident))
    return role


def jobs(conn: psycopg.Connection[Any], trigger: str = "counter") -> int:
    """How many fit events trigger ``trigger`` has queued."""
    row = conn.execute(
        "SELECT count(*) FROM motion.jobs WHERE trigger_name = %s", [trigger]
    ).fetchone()
    assert row is not None
    return int(row[0])


def is_superuser(conn: psycopg.Connection[Any], role: Role) -> bool:
    """Whether ``role`` is (has become) a superuser."""
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role.name]).fetchone()
    assert row is not None
    return bool(row[0])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/security needs the real PostgreSQL."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)
