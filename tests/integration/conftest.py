"""Per-test databases cloned from a template in which motion is installed once per session."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pytest_postgresql.janitor import DatabaseJanitor

from motion_pg.embedded import Cluster
from motion_pg.testing import motion_template
from motion_pg.testing.databases import package_paths

__all__ = ["conn", "dsn", "motion_template", "pg_cluster"]

ROOT = Path(__file__).resolve().parents[2]
RELIABILITY: list[dict[str, Any]] = []  # rows of the reliability suite's summary table
# what the template records: this checkout first (the server imports the motion_pg under test, even
# from a git worktree whose virtualenv was made for another checkout), then the test apps
IMPORT_PATHS = package_paths([ROOT / "tests" / "apps", ROOT / "examples"])

# The fixtures come from the test kit users get (motion_pg.testing, loaded by `-p` in
# pyproject.toml): the template imports this checkout first, then tests/apps and examples/
# (`motion_pg_paths`), and this checkout's extension files are installed on the server
# (`motion_pg_extension = "build"`). Under the names this suite has always used:


@pytest.fixture(scope="session")
def pg_cluster(motion_cluster: Cluster) -> Cluster:
    """A real PostgreSQL 15 started for the session (as the ``postgres`` OS user when root)."""
    return motion_cluster


@pytest.fixture
def dsn(motion_dsn: str) -> str:
    """A fresh database for one test, with motion installed."""
    return motion_dsn


@pytest.fixture
def conn(motion_conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """An autocommit connection to the test's database, as an administrator."""
    return motion_conn


def _janitor(cluster: Cluster, dbname: str, **kwargs: Any) -> DatabaseJanitor:
    return DatabaseJanitor(
        user=cluster.user, host=cluster.host, port=cluster.port, dbname=dbname,
        password=cluster.password, **kwargs,
    )  # fmt: skip


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
