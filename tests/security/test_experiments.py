"""Live experiments are administrators' only: shadow records hold another trigger's outputs, and
motion.compare reads every side's outputs and the relation's labels. An application role that
writes the relation drives the experiment (its rows are inferred and recorded) but can neither
read, forge nor erase the records, nor read the report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import motion_pg

from .conftest import ITEMS, Role

APPS = "motion_test_apps.experiments"
STATEMENTS = [
    "SELECT * FROM motion.shadow_outputs",
    "SELECT * FROM motion.experiments",
    "INSERT INTO motion.shadow_outputs (trigger_name, relation, row_key, outputs, served,"
    " latency_seconds) VALUES ('b', 'public.items', '{\"id\": 1}', '{}', false, 0)",
    "DELETE FROM motion.shadow_outputs",
    "UPDATE motion.experiments SET percent = 99",
    "DELETE FROM motion.experiments",
    "SELECT motion.compare('a', 'b')",
    "SELECT motion.compare('a', 'b', 'doubled', NULL, 'doubled')",
]


@pytest.fixture
def experiment(conn: psycopg.Connection[Any]) -> None:
    conn.execute(ITEMS.replace("seen_version int", "seen_version int, label text, score real"))
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER a ON items USING '{APPS}:Baseline'")
    motion_pg.execute(conn, f"CREATE MOTION TRIGGER b ON items SHADOW OF a USING '{APPS}:Variant'")


def test_an_application_role_drives_the_experiment_but_cannot_see_or_steer_it(
    conn: psycopg.Connection[Any], experiment: None, make_role: Callable[[], Role]
) -> None:
    app = make_role()
    conn.execute(f'GRANT SELECT, INSERT, UPDATE ON items TO "{app.name}"')
    conn.execute(f'GRANT USAGE ON SEQUENCE items_id_seq TO "{app.name}"')
    with app.connect() as c:
        c.execute("INSERT INTO items (value) VALUES (2)")
        for statement in STATEMENTS:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(statement)
    # the writer's row was recorded for both sides, and nothing else changed
    rows = conn.execute(
        "SELECT trigger_name, served FROM motion.shadow_outputs ORDER BY trigger_name"
    ).fetchall()
    assert rows == [("a", True), ("b", False)]
    assert conn.execute("SELECT kind, percent FROM motion.experiments").fetchall() == [
        ("shadow", None)
    ]


def test_other_roles_cannot_either(experiment: None, attacker: Role) -> None:
    with attacker.connect() as c:
        for statement in STATEMENTS:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(statement)


def test_only_administrators_create_or_promote_experiments(
    experiment: None, attacker: Role
) -> None:
    with attacker.connect() as c:
        for text in (
            "ALTER MOTION TRIGGER b PROMOTE",
            f"CREATE MOTION TRIGGER c ON items SHADOW OF a USING '{APPS}:Variant'",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute("SELECT motion.exec(%s)", [text])
