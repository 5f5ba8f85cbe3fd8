"""The test kit on an existing server (``--motion-dsn`` / ``MOTION_PG_TEST_DSN``): a user's project
runs its tests on a server that is already running, with a template and a database per test made
there and dropped after, and no cluster started."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from motion_pg.embedded import Cluster

from .conftest import ROOT

APP = """
import motion_pg


class Counter(motion_pg.Trigger):
    def setup(self, ctx):
        return {"count": 0}

    def infer(self, row, ctx):
        return None

    def fit(self, events, ctx):
        return {"count": ctx.state["count"] + len(events)}
"""

TESTS = """
import os

from motion_pg import execute
from motion_pg.testing import assert_version, fit_pending
from motion_pg.testing.databases import ExistingServer


def test_runs_on_the_given_server(motion_server, motion_conn):
    assert isinstance(motion_server, ExistingServer)  # no cluster was started
    assert motion_conn.info.port == int(os.environ["EXPECTED_PORT"])
    assert motion_conn.info.dbname.startswith("motion_test_")
    execute(motion_conn, "CREATE TABLE items (id serial PRIMARY KEY, value int);"
            " CREATE MOTION TRIGGER c ON items USING 'kit_app:Counter'")
    motion_conn.execute("INSERT INTO items (value) VALUES (1), (2)")
    assert fit_pending(motion_conn, "c") == 1
    assert_version(motion_conn, "c", 2)


def test_each_test_has_its_own_database(motion_conn):
    assert motion_conn.execute("SELECT to_regclass('items')").fetchone() == (None,)
    assert motion_conn.execute("SELECT count(*) FROM motion.triggers").fetchone() == (0,)
"""


@pytest.fixture
def project() -> Iterator[Path]:
    # the server (the `postgres` OS user when root) imports kit_app from here
    path = Path(tempfile.mkdtemp(prefix="motion-pg-kit-"))
    (path / "kit_app.py").write_text(APP)
    (path / "test_app.py").write_text(TESTS)
    for p in [path, *path.iterdir()]:
        p.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _pytest(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "MOTION_PG_"))}
    base["PYTHONPATH"] = str(ROOT)  # the checkout under test
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project, env={**base, **env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _leftovers(cluster: Cluster) -> list[str]:
    with psycopg.connect(cluster.dsn("postgres"), autocommit=True) as c:
        rows = c.execute(
            r"SELECT datname FROM pg_database WHERE datname LIKE 'motion\_template\_%'"
        ).fetchall()
    return [r[0] for r in rows]


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_project_tests_on_an_existing_server(
    pg_cluster: Cluster, project: Path, how: str
) -> None:
    server = pg_cluster.dsn("postgres")
    args = ("--motion-dsn", server) if how == "option" else ()
    extra = {"MOTION_PG_TEST_DSN": server} if how == "environment" else {}
    result = _pytest(project, *args, EXPECTED_PORT=str(pg_cluster.port), **extra)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert _leftovers(pg_cluster) == []  # the session's template and databases are dropped


def test_an_unreachable_server_is_named(project: Path) -> None:
    result = _pytest(project, "--motion-dsn", "postgresql://kit:secret@127.0.0.1:1/postgres")
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "cannot connect to the server of --motion-dsn (host=127.0.0.1, port=1" in out, out
    assert "secret" not in out
