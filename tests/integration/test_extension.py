"""The `motion` extension: fresh install, upgrades equal to fresh installs, dump and restore."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

import motion_pg
from motion_pg import extension as ext
from motion_pg.embedded import Cluster, bin_path
from motion_pg.install import install, installed_version
from motion_pg.worker import Worker

from .conftest import IMPORT_PATHS, _janitor

pytestmark = pytest.mark.skipif(
    not (ext.server_extension_dir(bin_path("pg_config")) / "motion.control").is_file(),
    reason="the motion extension's files are not installed (make install-extension)",
)

DESCRIBE = {
    "relations": """SELECT c.relname, c.relkind, c.reloptions::text FROM pg_class c
                    WHERE c.relnamespace = 'motion'::regnamespace ORDER BY 1""",
    "columns": """SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                         pg_get_expr(d.adbin, d.adrelid)
                  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                  WHERE c.relnamespace = 'motion'::regnamespace AND a.attnum > 0
                    AND NOT a.attisdropped ORDER BY 1, 2""",
    "constraints": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                      FROM pg_constraint WHERE connamespace = 'motion'::regnamespace ORDER BY 1, 2""",
    "indexes": """SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'motion'
                  ORDER BY 1""",
    "functions": """SELECT proname, pg_get_function_identity_arguments(oid), prosrc,
                           proconfig::text, prosecdef, provolatile, proacl::text
                    FROM pg_proc WHERE pronamespace = 'motion'::regnamespace ORDER BY 1, 2""",
    "views": """SELECT viewname, definition FROM pg_views WHERE schemaname = 'motion' ORDER BY 1""",
    "members": """SELECT pg_describe_object(classid, objid, objsubid) FROM pg_depend
                  WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
                    AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'motion')
                  ORDER BY 1""",
    "dumped": """SELECT coalesce((SELECT array_agg(c::regclass::text ORDER BY c::regclass::text)
                                  FROM unnest(extconfig) c), '{}')
                 FROM pg_extension WHERE extname = 'motion'""",
    "schema_acl": "SELECT nspacl::text FROM pg_namespace WHERE nspname = 'motion'",
}


def describe(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    with psycopg.connect(dsn) as conn:
        return {k: conn.execute(q).fetchall() for k, q in DESCRIBE.items()}


@pytest.fixture
def empty_db(pg_cluster: Cluster) -> Iterator[str]:
    """A database with nothing installed."""
    name = f"motion_ext_{uuid.uuid4().hex[:10]}"
    janitor = _janitor(pg_cluster, name)
    janitor.init()
    yield pg_cluster.dsn(name)
    janitor.drop()


def test_fresh_extension_install(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        install(conn, IMPORT_PATHS, extension=True)
        assert installed_version(conn) == (ext.current_version(), True)
        assert conn.execute("SELECT motion.schema_version()").fetchone() == (ext.current_version(),)


def test_upgraded_extension_equals_fresh(empty_db: str, pg_cluster: Cluster) -> None:
    oldest = ext.releases()[0]
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE EXTENSION motion VERSION {} CASCADE").format(sql.Literal(oldest))
        )
        install(conn, IMPORT_PATHS)  # upgrades the extension the way it was installed
        assert installed_version(conn) == (ext.current_version(), True)
    fresh = pg_cluster.dsn("motion_ext_fresh")
    janitor = _janitor(pg_cluster, "motion_ext_fresh")
    janitor.init()
    try:
        with psycopg.connect(fresh, autocommit=True) as conn:
            install(conn, IMPORT_PATHS, extension=True)
        assert describe(empty_db) == describe(fresh)
    finally:
        janitor.drop()


def test_upgraded_direct_install_equals_fresh(empty_db: str, pg_cluster: Cluster) -> None:
    oldest = ext.releases()[0]
    with psycopg.connect(empty_db, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION plpython3u; CREATE EXTENSION vector")
        conn.execute(ext.full_script(oldest, "direct"))
        assert installed_version(conn) == (oldest, False)
        install(conn, IMPORT_PATHS)
        assert installed_version(conn) == (ext.current_version(), False)
    janitor = _janitor(pg_cluster, "motion_direct_fresh")
    janitor.init()
    try:
        fresh = pg_cluster.dsn("motion_direct_fresh")
        with psycopg.connect(fresh, autocommit=True) as conn:
            install(conn, IMPORT_PATHS, extension=False)
        assert describe(empty_db) == describe(fresh)
    finally:
        janitor.drop()


def test_dump_and_restore_keeps_a_working_application(
    conn: psycopg.Connection[Any], dsn: str, pg_cluster: Cluster, tmp_path: Any
) -> None:
    assert installed_version(conn)[1], "the test template installs the extension"
    conn.execute(
        "CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, doubled int,"
        " seen_version int)"
    )
    motion_pg.execute(
        conn,
        "CREATE MOTION TRIGGER counter ON items USING 'motion_test_apps.basic:Counter'"
        " WITH (factor = 3)",
    )
    conn.execute("INSERT INTO items (value) VALUES (1), (2)")
    Worker(dsn, poll_interval=0.05).run(once=True)
    conn.execute("INSERT INTO items (value) VALUES (3)")  # a pending event crosses the dump
    dump = tmp_path / "app.dump"
    env = {"PGPASSWORD": pg_cluster.password}
    subprocess.run([bin_path("pg_dump"), "-Fc", "-f", str(dump), dsn], check=True, env=env)
    restored = pg_cluster.dsn("motion_restored")
    janitor = _janitor(pg_cluster, "motion_restored")
    janitor.init()
    try:
        subprocess.run(
            [bin_path("pg_restore"), "--exit-on-error", "-d", restored, str(dump)],
            check=True, env=env, capture_output=True, text=True,
        )  # fmt: skip
        with psycopg.connect(restored, autocommit=True) as r:
            assert r.execute("SELECT doubled, seen_version FROM items ORDER BY id").fetchall() == [
                (3, 1), (6, 1), (9, 2),
            ]  # fmt: skip
            assert r.execute("SELECT serving_version FROM motion.triggers").fetchone() == (2,)
            row = r.execute("INSERT INTO items (value) VALUES (4) RETURNING doubled, seen_version")
            assert row.fetchone() == (12, 2)
            assert Worker(restored, poll_interval=0.05).run(once=True) == 1
            row = r.execute("INSERT INTO items (value) VALUES (5) RETURNING seen_version")
            assert row.fetchone() == (3,)
            assert r.execute("SELECT count(*) FROM motion.job_log").fetchone()[0] >= 2
    finally:
        janitor.drop()
