"""The whole DSL through its three doors: ALTER, SHOW, versions, catalog views, bad input."""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.embedded import Cluster
from motion_pg.errors import MotionError
from motion_pg.worker import Worker

from .conftest import _janitor, motion_pg_cli, psql

SCHEMA = (
    'CREATE SCHEMA "Shop";'
    ' CREATE TABLE "Shop"."Items" (id serial PRIMARY KEY, value int NOT NULL, doubled int,'
    " seen_version int, label text)"
)
SCRIPT = [
    'CREATE MOTION TRIGGER IF NOT EXISTS counter ON "Shop"."Items" (value) INFER infer NO FIT'
    ' ON "Shop"."Items" (label) NO INFER FIT fit'
    " USING 'motion_test_apps.basic:Counter' WITH (factor = 3, note = 'first')",
    'CREATE MOTION TRIGGER IF NOT EXISTS counter ON "Shop"."Items"'
    " USING 'motion_test_apps.basic:Counter'",  # exists: skipped
    "ALTER MOTION TRIGGER counter SET (factor = 4)",
    "ALTER MOTION TRIGGER counter DISABLE",
    "ALTER MOTION TRIGGER counter ENABLE",
    "ALTER MOTION TRIGGER counter REFIT",
    "ALTER MOTION TRIGGER counter ROLLBACK TO VERSION 1",
    'CREATE OR REPLACE MOTION TRIGGER other ON "Shop"."Items" (label) NO INFER FIT fit'
    " USING 'motion_test_apps.basic:Counter'",
    "DROP MOTION TRIGGER IF EXISTS nothing_here",
]


def catalog(dsn: str) -> dict[str, Any]:
    """What the statements left behind, without times and oids."""
    with psycopg.connect(dsn) as c:
        return {
            "triggers": c.execute(
                "SELECT name, class_ref, params, enabled, serving_version, definition"
                " FROM motion.triggers ORDER BY name"
            ).fetchall(),
            "routes": c.execute(
                "SELECT trigger_name, ordinal, relation::text, columns, infer_method, fit_method,"
                " pg_triggers FROM motion.routes ORDER BY 1, 2"
            ).fetchall(),
            "versions": c.execute(
                "SELECT trigger_name, version, source, parent_version, params, state_bytes,"
                " restored_from, to_jsonb(settings)::text"
                " FROM motion.versions ORDER BY 1, 2"
            ).fetchall(),
            "pg_triggers": c.execute(
                "SELECT tgname, tgenabled FROM pg_trigger WHERE tgname LIKE 'motion%' ORDER BY 1"
            ).fetchall(),
        }


@pytest.fixture
def other_dsns(pg_cluster: Cluster, motion_template: str) -> Iterator[list[str]]:
    janitors = []
    for _ in range(2):
        name = f"motion_door_{uuid.uuid4().hex[:10]}"
        janitor = _janitor(pg_cluster, name, template_dbname=motion_template)
        janitor.init()
        janitors.append((janitor, pg_cluster.dsn(name)))
    yield [d for _, d in janitors]
    for janitor, _ in janitors:
        janitor.drop()


def test_three_doors_give_identical_results(
    dsn: str, other_dsns: list[str], tmp_path: Path
) -> None:
    python_door, sql_door, cli_door = dsn, *other_dsns
    with psycopg.connect(python_door, autocommit=True) as conn:
        conn.execute(SCHEMA)
        for statement in SCRIPT:
            motion_pg.execute(conn, statement)
    psql(sql_door, SCHEMA, *(f"SELECT motion.exec($motion${s}$motion$)" for s in SCRIPT))
    migration = tmp_path / "migration.sql"
    migration.write_text(SCHEMA + ";\n" + ";\n".join(SCRIPT) + ";\n")
    motion_pg_cli("apply", str(migration), dsn=cli_door)
    expected = catalog(python_door)
    assert catalog(sql_door) == expected
    assert catalog(cli_door) == expected
    sources = [(v[0], v[1], v[2], v[3], v[6]) for v in expected["versions"]]
    # parent: the version serving before; a rollback records the version it restored
    assert sources == [
        ("counter", 1, "setup", None, None),
        ("counter", 2, "params", 1, None),
        ("counter", 3, "refit", 2, None),
        ("counter", 4, "rollback", 3, 1),
        ("other", 1, "setup", None, None),
    ]


def _state(conn: psycopg.Connection[Any], version: int) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT e.key, b.data FROM motion.state_entries e JOIN motion.blobs b ON b.id = e.blob_id"
        " WHERE e.trigger_name = 'counter' AND e.version = %s",
        [version],
    ).fetchall()
    return {k: pickle.loads(v) for k, v in rows}


@pytest.fixture
def shop(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    conn.execute(SCHEMA)
    motion_pg.execute(conn, SCRIPT[0])
    return conn


def insert(conn: psycopg.Connection[Any], value: int) -> tuple[Any, ...]:
    row = conn.execute(
        'INSERT INTO "Shop"."Items" (value) VALUES (%s) RETURNING doubled, seen_version', [value]
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_alter_set_takes_effect_for_the_next_statement(shop: psycopg.Connection[Any]) -> None:
    assert insert(shop, 1) == (3, 1)
    motion_pg.execute(shop, "ALTER MOTION TRIGGER counter SET (factor = 10)")
    # params are read by infer; the state keeps setup's factor until REFIT
    assert shop.execute("SELECT params->>'factor' FROM motion.triggers").fetchone() == ("10",)
    assert insert(shop, 1) == (3, 2)
    motion_pg.execute(shop, "ALTER MOTION TRIGGER counter REFIT")
    assert insert(shop, 1) == (10, 3)


def test_disable_and_enable(shop: psycopg.Connection[Any], dsn: str) -> None:
    motion_pg.execute(shop, "ALTER MOTION TRIGGER counter DISABLE")
    assert insert(shop, 1) == (None, None)  # not inferred while disabled
    shop.execute('UPDATE "Shop"."Items" SET label = \'x\'')
    # the events are kept (issue 9 item 17), but no worker fits them while disabled
    assert shop.execute("SELECT count(*) FROM motion.jobs").fetchone() == (2,)
    assert Worker(dsn, poll_interval=0.05).run(once=True) == 0
    motion_pg.execute(shop, "ALTER MOTION TRIGGER counter ENABLE")
    assert insert(shop, 2) == (6, 1)
    assert Worker(dsn, poll_interval=0.05).run(once=True) == 1  # the backlog and the new row
    assert _state(shop, 2)["count"] == 3


def test_rollback_serves_old_content_as_a_new_version(
    shop: psycopg.Connection[Any], dsn: str
) -> None:
    shop.execute('INSERT INTO "Shop"."Items" (value, label) VALUES (1, \'a\')')
    shop.execute('UPDATE "Shop"."Items" SET label = \'b\'')
    assert Worker(dsn, poll_interval=0.05).run(once=True) == 1
    assert _state(shop, 2)["count"] == 2  # the label route fires on INSERT and on the UPDATE
    motion_pg.execute(shop, "ALTER MOTION TRIGGER counter ROLLBACK TO VERSION 1")
    assert shop.execute("SELECT serving_version FROM motion.triggers").fetchone() == (3,)
    assert _state(shop, 3) == _state(shop, 1)
    history = shop.execute(
        "SELECT version, source, parent_version, restored_from, serving"
        " FROM motion.version_history ORDER BY version"
    ).fetchall()
    # parent: the version serving before; restored_from: the version whose state it restores
    assert history == [
        (1, "setup", None, None, False),
        (2, "fit", 1, None, False),
        (3, "rollback", 2, 1, True),
    ]


def test_show_and_catalog_views(shop: psycopg.Connection[Any]) -> None:
    shown = motion_pg.execute(shop, "SHOW MOTION TRIGGERS")[0]
    assert "counter" in shown and "motion_test_apps.basic:Counter" in shown
    shop.execute('INSERT INTO "Shop"."Items" (value, label) VALUES (1, \'a\')')
    status = shop.execute(
        "SELECT name, enabled, serving_version, routes, pending FROM motion.trigger_status"
    ).fetchone()
    assert status is not None
    assert status[:3] == ("counter", True, 1)
    assert status[3] == (
        'ON "Shop"."Items" (value) INFER infer NO FIT ON "Shop"."Items" (label) NO INFER FIT fit'
    )
    assert status[4] == 1
    summary = shop.execute("SELECT trigger_name, state, jobs FROM motion.job_summary").fetchall()
    assert summary == [("counter", "pending", 1)]


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("ALTER MOTION TRIGGER nope SET (a = 1)", 'motion trigger "nope" does not exist'),
        ("DROP MOTION TRIGGER nope", 'motion trigger "nope" does not exist'),
        ("ALTER MOTION TRIGGER counter ROLLBACK TO VERSION 9", "has no version 9"),
        ("ALTER MOTION TRIGGER counter SET (a = now())", "must be a literal"),
        (
            'CREATE MOTION TRIGGER t2 ON "Shop"."Items" (nope)'
            " USING 'motion_test_apps.basic:Counter'",
            'column "nope" of relation "Shop.Items" does not exist',
        ),
        (
            'CREATE MOTION TRIGGER t2 ON "Shop"."Items" USING \'motion_test_apps.broken:Broken\'',
            "No module named 'motion_pg_missing_dependency'",
        ),
        (
            'CREATE MOTION TRIGGER counter ON "Shop"."Items"'
            " USING 'motion_test_apps.basic:Counter'",
            'motion trigger "counter" already exists',
        ),
    ],
)
def test_bad_statements_name_the_problem_and_change_nothing(
    shop: psycopg.Connection[Any], dsn: str, statement: str, expected: str
) -> None:
    before = catalog(dsn)
    with pytest.raises(MotionError) as info:
        motion_pg.execute(shop, statement)
    assert expected in str(info.value)
    assert catalog(dsn) == before


def test_rolled_back_transaction_leaves_no_trace_of_any_statement(
    shop: psycopg.Connection[Any], dsn: str
) -> None:
    before = catalog(dsn)
    shop.execute("BEGIN")
    for statement in SCRIPT[2:]:
        motion_pg.execute(shop, statement)
    motion_pg.execute(shop, "DROP MOTION TRIGGER counter")
    shop.execute("ROLLBACK")
    assert catalog(dsn) == before


def test_refit_replaces_the_state_with_setups(conn: psycopg.Connection[Any], dsn: str) -> None:
    conn.execute(SCHEMA)
    motion_pg.execute(
        conn,
        'CREATE MOTION TRIGGER counter ON "Shop"."Items" USING \'motion_test_apps.basic:Extender\'',
    )
    insert(conn, 1)
    Worker(dsn, poll_interval=0.05).run(once=True)
    assert _state(conn, 2)["extra"] == 1
    motion_pg.execute(conn, "ALTER MOTION TRIGGER counter REFIT")
    assert set(_state(conn, 3)) == {"count", "ids", "factor"}
    lineage = conn.execute("SELECT source, parent_version FROM motion.versions WHERE version = 3")
    assert lineage.fetchone() == ("refit", 2)
