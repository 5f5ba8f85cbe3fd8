"""Per-test databases cloned from a template in which motion is installed once per session."""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from motion_pg import extension as ext
from motion_pg.embedded import Cluster, bin_path
from motion_pg.install import install

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = "motion_template"
RELIABILITY: list[dict[str, Any]] = []  # rows of the reliability suite's summary table
# this checkout first: the server imports the motion_pg under test, even from a git worktree whose
# virtualenv was made for another checkout
IMPORT_PATHS = [
    str(ROOT),
    sysconfig.get_paths()["purelib"],
    str(ROOT / "tests" / "apps"),
    str(ROOT / "examples"),
]


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A real PostgreSQL 15 started for the session (as the ``postgres`` OS user when root)."""
    # not under tmp_path_factory: its directories are private to us, and the server's OS user
    # must reach the cluster directory
    root = Path(tempfile.mkdtemp(prefix="motion-pg-test-"))
    root.chmod(0o755)
    cluster = Cluster(root / "cluster", port=0, fast=True)
    cluster.start()
    yield cluster
    cluster.destroy()
    shutil.rmtree(root, ignore_errors=True)


def _janitor(cluster: Cluster, dbname: str, **kwargs: Any) -> DatabaseJanitor:
    return DatabaseJanitor(
        user=cluster.user, host=cluster.host, port=cluster.port, dbname=dbname,
        password=cluster.password, **kwargs,
    )  # fmt: skip


@pytest.fixture(scope="session")
def motion_template(pg_cluster: Cluster) -> Iterator[str]:
    """A template database with plpython3u, vector and the motion schema installed."""
    # the server's extension files are this checkout's (the CI installs them too; a developer's
    # other checkouts may have installed their own)
    with contextlib.suppress(PermissionError):
        ext.build(ext.server_extension_dir(bin_path("pg_config")))
    janitor = _janitor(pg_cluster, TEMPLATE, as_template=True)
    janitor.drop()
    janitor.init()
    with psycopg.connect(pg_cluster.dsn(TEMPLATE), autocommit=True) as conn:
        install(conn, IMPORT_PATHS)
    yield TEMPLATE
    janitor.drop()


@pytest.fixture
def dsn(pg_cluster: Cluster, motion_template: str) -> Iterator[str]:
    """A fresh database for one test, with motion installed."""
    name = f"motion_test_{uuid.uuid4().hex[:10]}"
    janitor = _janitor(pg_cluster, name, template_dbname=motion_template)
    janitor.init()
    yield pg_cluster.dsn(name)
    janitor.drop()


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection to the test's database, as an administrator."""
    with psycopg.connect(dsn, autocommit=True) as c:
        yield c


def motion_pg_cli(*args: str, dsn: str, check: bool = True, timeout: float = 120,
                  **kwargs: Any) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run the ``motion-pg`` command line in a real subprocess."""
    env = {**os.environ, "MOTION_DSN": dsn}
    result = subprocess.run(
        [sys.executable, "-m", "motion_pg.cli", *args],
        env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kwargs,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(
            f"motion-pg {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def psql(dsn: str, *commands: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run commands through the real psql client."""
    args = ["psql", dsn, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    for c in commands:
        args += ["-c", c]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"psql failed ({result.returncode}):\n{result.stderr}")
    return result


def state(conn: psycopg.Connection[Any], name: str, version: int | None = None) -> dict[str, Any]:
    """The pickled state of trigger ``name`` at ``version`` (default: the serving one)."""
    rows = conn.execute(
        "SELECT e.key, b.data FROM motion.state_entries e JOIN motion.blobs b ON b.id = e.blob_id"
        " WHERE e.trigger_name = %s AND e.version = coalesce(%s,"
        " (SELECT serving_version FROM motion.triggers WHERE name = %s))",
        [name, version, name],
    ).fetchall()
    return {k: pickle.loads(v) for k, v in rows}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the reliability suite's table and write it as JSON next to the benchmarks'."""
    if not RELIABILITY:
        return
    import json

    cols = ["scenario", "committed", "fitted", "lost", "duplicated", "rolled_back_fitted",
            "recovery_p50_s", "recovery_max_s"]  # fmt: skip
    tr = terminalreporter
    tr.section("reliability summary")
    tr.write_line("| " + " | ".join(cols) + " |")
    tr.write_line("|" + "---|" * len(cols))
    for row in RELIABILITY:
        cells = [f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c]) for c in cols]
        tr.write_line("| " + " | ".join(cells) + " |")
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "reliability.json").write_text(json.dumps(RELIABILITY, indent=2))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration needs the real PostgreSQL."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)
