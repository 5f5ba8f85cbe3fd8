"""Managed mode on a real Postgres: motion installed by a role that is not a superuser, in a
database where it may not create plpython3u (as on RDS, Cloud SQL, Azure, Supabase)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

import motion_pg
from motion_pg.embedded import Cluster
from motion_pg.errors import MotionError, UnknownTrigger
from motion_pg.install import install
from motion_pg.worker import Worker
from tests.integration.conftest import IMPORT_PATHS, motion_pg_cli, state

ITEMS = (
    "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, note text, doubled int,"
    " seen_version int, batch_size int)"
)


@pytest.fixture
def owner_dsn(pg_cluster: Cluster) -> Iterator[str]:
    """A fresh database (from template0: no plpython3u) owned by a new login role that is not a
    superuser, and that role's dsn; motion is not installed yet."""
    name = f"mp_owner_{uuid.uuid4().hex[:10]}"
    password = uuid.uuid4().hex
    with psycopg.connect(pg_cluster.dsn("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}")
                      .format(sql.Identifier(name), sql.Literal(password)))  # fmt: skip
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(
            sql.Identifier(name), sql.Identifier(name)))  # fmt: skip
    try:
        yield make_conninfo(pg_cluster.dsn(name), user=name, password=password)
    finally:
        with psycopg.connect(pg_cluster.dsn("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))  # fmt: skip
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def managed(owner_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection as the owner role to its database, motion installed managed."""
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        install(conn, [str(p) for p in IMPORT_PATHS], mode="managed")
        yield conn


def rows(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return conn.execute("SELECT value, doubled, seen_version FROM items ORDER BY id").fetchall()


def test_install_falls_back_to_managed_mode_and_says_so(owner_dsn: str) -> None:
    done = motion_pg_cli("install", *[a for p in IMPORT_PATHS for a in ("--path", str(p))],
                         dsn=owner_dsn)  # fmt: skip
    assert "plpython3u cannot be created" in done.stderr and "managed mode" in done.stderr
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        languages = conn.execute(
            "SELECT DISTINCT l.lanname FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang"
            " WHERE p.pronamespace = 'motion'::regnamespace ORDER BY 1"
        ).fetchall()
        assert languages == [("plpgsql",), ("sql",)]
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) = current_user FROM pg_class"
            " WHERE relnamespace = 'motion'::regnamespace"
        ).fetchall()
        assert owners == [(True,)]
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert superuser.fetchone() == (False,)
    again = motion_pg_cli("install", "--mode", "managed", dsn=owner_dsn)  # an upgrade: no-op
    assert again.returncode == 0


def test_install_mode_full_refuses_without_plpython(owner_dsn: str) -> None:
    done = motion_pg_cli("install", "--mode", "full", dsn=owner_dsn, check=False)
    assert done.returncode != 0 and "permission denied" in done.stderr


def test_a_trigger_infers_in_the_worker_and_fits(
    managed: psycopg.Connection[Any], owner_dsn: str
) -> None:
    managed.execute(ITEMS)
    said = motion_pg.execute(
        managed,
        "CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.asynchronous:AsyncDoubler'",
    )
    assert said == ["CREATE MOTION TRIGGER counter (version 1)"]
    got = managed.execute("INSERT INTO items (value) VALUES (1), (2) RETURNING doubled").fetchall()
    assert got == [(None,), (None,)]  # documented: outputs are not in the writing transaction
    Worker(owner_dsn).run(once=True)
    assert rows(managed) == [(1, 2, 1), (2, 4, 1)]
    assert state(managed, "counter")["count"] == 2
    managed.execute("INSERT INTO items (value) VALUES (3)")
    Worker(owner_dsn).run(once=True)  # the fit made version 2; the new row is inferred with it
    assert rows(managed)[-1] == (3, 6, 2)


def test_the_same_class_as_a_full_install_uses(
    managed: psycopg.Connection[Any], owner_dsn: str
) -> None:
    managed.execute("CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int,"
                    " seen_version int)")  # fmt: skip
    motion_pg.execute(
        managed, "CREATE MOTION TRIGGER basic ON items USING 'motion_test_apps.basic:Counter'"
    )
    managed.execute("INSERT INTO items (value) VALUES (5)")
    Worker(owner_dsn).run(once=True)
    found = managed.execute("SELECT doubled FROM items").fetchone()
    assert found is not None and found[0] is not None
    modes = managed.execute("SELECT (settings).infer_mode FROM motion.triggers").fetchall()
    assert modes == [("auto",)]  # the setting is untouched: the install decides
    kinds = managed.execute(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal"
        " AND tgname LIKE 'motion_basic%' ORDER BY 1"
    ).fetchall()
    assert [k for (k,) in kinds if "async" in k] and not [k for (k,) in kinds if "infer" in k]


def test_alter_and_drop_through_the_client(
    managed: psycopg.Connection[Any], owner_dsn: str
) -> None:
    managed.execute(ITEMS)
    motion_pg.execute(managed, "CREATE MOTION TRIGGER counter ON items USING "
                      "'motion_test_apps.asynchronous:AsyncDoubler' WITH (factor = 3)")  # fmt: skip
    motion_pg.execute(managed, "ALTER MOTION TRIGGER counter SET (note = 'x')")
    managed.execute("INSERT INTO items (value) VALUES (2)")
    Worker(owner_dsn).run(once=True)
    assert rows(managed) == [(2, 6, 2)]  # version 2: the ALTER SET
    motion_pg.execute(managed, "DROP MOTION TRIGGER counter")
    left = managed.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal"
    ).fetchone()
    assert left == (0,)
    with pytest.raises(UnknownTrigger):
        motion_pg.execute(managed, "ALTER MOTION TRIGGER counter DISABLE")


def test_a_failing_statement_leaves_nothing_behind(managed: psycopg.Connection[Any]) -> None:
    managed.execute(ITEMS)
    with pytest.raises(MotionError, match="no_such_module"):
        motion_pg.execute(
            managed,
            "CREATE TABLE other (id int PRIMARY KEY);"
            " CREATE MOTION TRIGGER bad ON items USING 'no_such_module:Nope'",
        )
    assert managed.execute("SELECT to_regclass('other')").fetchone() == (None,)
    assert managed.execute("SELECT count(*) FROM motion.triggers").fetchone() == (0,)


def test_motion_exec_in_sql_says_how_to_run_statements(managed: psycopg.Connection[Any]) -> None:
    with pytest.raises(psycopg.Error) as raised:
        managed.execute("SELECT motion.exec('SHOW MOTION TRIGGERS')")
    assert "managed mode" in str(raised.value)
    assert "motion-pg exec" in (raised.value.diag.message_hint or "")


def test_the_cli_exec_command(managed: psycopg.Connection[Any], owner_dsn: str) -> None:
    managed.execute(ITEMS)
    done = motion_pg_cli(
        "exec",
        "CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.asynchronous:AsyncBatch'",
        dsn=owner_dsn,
    )
    assert "CREATE MOTION TRIGGER counter (version 1)" in done.stdout
    assert "asynchronously" in done.stderr
    managed.execute("INSERT INTO items (value) VALUES (1), (2), (3)")
    motion_pg_cli("worker", "--once", dsn=owner_dsn)
    got = managed.execute("SELECT DISTINCT batch_size FROM items").fetchall()
    assert got == [(3,)]


def test_state_lineage_and_warm_exist_in_sql(
    managed: psycopg.Connection[Any], owner_dsn: str
) -> None:
    managed.execute(ITEMS)
    motion_pg.execute(managed, "CREATE MOTION TRIGGER counter ON items USING "
                      "'motion_test_apps.asynchronous:AsyncDoubler'")  # fmt: skip
    managed.execute("INSERT INTO items (value) VALUES (4)")
    Worker(owner_dsn).run(once=True)
    assert managed.execute("SELECT motion.warm('counter')").fetchone() == (2,)
    with pytest.raises(psycopg.Error, match="does not exist"):
        managed.execute("SELECT motion.warm('nope')")
    row = managed.execute("SELECT motion.state('counter')").fetchone()
    assert row is not None
    assert row[0]["version"] == 2 and set(row[0]["keys"]) == {"count", "values", "factor"}
    assert row[0]["keys"]["count"]["type"] == "pickle" and row[0]["keys"]["count"]["bytes"] > 0
    with pytest.raises(psycopg.Error, match="has no version 9"):
        managed.execute("SELECT motion.state('counter', 9)")
    found = managed.execute("SELECT motion.lineage('items', '1')").fetchone()
    assert found is not None
    [t] = found[0]["triggers"]
    assert t["stamped"] and t["trigger"] == "counter" and t["version"] == 1 and t["route"] == 0
    assert sorted(t["inferred_columns"]) == ["doubled", "seen_version"]
    assert t["login_role"] == managed.info.user and t["params"] == {}
    assert t["code_digest"] and t["infer"] == "wrote outputs"
    xact = managed.execute("SELECT xmin::text::bigint FROM motion.async_rows").fetchone()
    assert xact is None  # drained
    with pytest.raises(psycopg.Error, match="no row with key"):
        managed.execute("SELECT motion.lineage('items', '99')")


def test_state_show_lineage_and_status_work_on_managed(
    managed: psycopg.Connection[Any], owner_dsn: str
) -> None:
    managed.execute(ITEMS)
    motion_pg.execute(managed, "CREATE MOTION TRIGGER counter ON items USING "
                      "'motion_test_apps.asynchronous:AsyncDoubler'")  # fmt: skip
    managed.execute("INSERT INTO items (value) VALUES (4), (5)")
    Worker(owner_dsn).run(once=True)
    shown = motion_pg_cli("state", "show", "counter", "--json", dsn=owner_dsn)
    assert json.loads(shown.stdout) == {
        "trigger": "counter",
        "version": 2,
        "keys": {"count": 2, "values": [4, 5], "factor": 2},
    }  # rendered on the client, as motion.state renders them on a full install
    one = motion_pg_cli("state", "show", "counter", "values", "--version", "1", dsn=owner_dsn)
    assert json.loads(one.stdout) == []
    traced = motion_pg_cli("lineage", "items", "1", "--json", dsn=owner_dsn)
    [t] = json.loads(traced.stdout)["triggers"]
    assert t["stamped"] and t["version"] == 1 and t["events"]["count"] == 0
    assert [v["version"] for v in t["chain"]] == [1]
    text = motion_pg_cli("lineage", "items", "2", dsn=owner_dsn)
    assert "motion trigger counter" in text.stdout and "version 1" in text.stdout
    status = motion_pg_cli("status", "--json", dsn=owner_dsn)
    [s] = json.loads(status.stdout)
    assert s["trigger"] == "counter" and s["serving_version"] == 2
    assert motion_pg_cli("status", dsn=owner_dsn).returncode == 0
    missing = motion_pg_cli("state", "show", "nope", dsn=owner_dsn, check=False)
    assert missing.returncode != 0 and 'motion trigger "nope" does not exist' in missing.stderr
