"""The built wheel, installed into a fresh virtualenv, is all a user needs: install, CREATE, fit.

The virtualenv is made from the server's Python (the interpreter PL/Python embeds) without the
system's site-packages and without this checkout on any path; its packages come from wheels made
offline from the project's virtualenv (tests/integration/wheelhouse.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from motion_pg.embedded import Cluster
from motion_pg.testing.databases import create_database, drop_database

from .conftest import ROOT, psql, state
from .wheelhouse import wheelhouse

pytestmark = pytest.mark.slow

APP = '''
"""A trigger module outside the checkout: it records which motion_pg ran it."""
import motion_pg


class Counter(motion_pg.Trigger):
    def setup(self, ctx):
        return {"count": 0, "backend": motion_pg.__file__}

    def infer(self, row, ctx):
        return {"seen_version": ctx.version}

    def fit(self, events, ctx):
        return {"count": ctx.state["count"] + len(events), "worker": motion_pg.__file__}
'''

SCHEMA = """
CREATE TABLE items (id serial PRIMARY KEY, value int NOT NULL, seen_version int);
CREATE MOTION TRIGGER counter ON items USING 'wheel_app:Counter';
"""


class FreshVenv:
    """A virtualenv at ``path`` with the wheel installed; runs its programs outside the checkout."""

    def __init__(self, path: Path, cwd: Path) -> None:
        self.path = path
        self.cwd = cwd
        self.purelib = subprocess.run(
            [str(path / "bin" / "python"), "-c",
             "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

    def run(self, *argv: str, dsn: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env |= {
            "MOTION_DSN": dsn,
            "COLUMNS": "200",
            "PATH": f"{self.path / 'bin'}:{env.get('PATH', '')}",
        }
        result = subprocess.run(
            [str(self.path / "bin" / argv[0]), *argv[1:]],
            env=env, cwd=self.cwd, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result


def _server_python() -> str:
    """The interpreter this virtualenv was made from: the one the database server embeds."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(Path(sys.base_prefix) / "bin" / version)


@pytest.fixture(scope="module")
def fresh_venv() -> Iterator[FreshVenv]:
    # where the server's OS user can read (a root-only tmp_path is not)
    root = Path(tempfile.mkdtemp(prefix="motion-pg-wheel-"))
    try:
        root.chmod(0o755)
        yield _make_venv(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _make_venv(root: Path) -> FreshVenv:
    wheel = wheelhouse(ROOT, root / "wheels", extra=["pytest"])
    subprocess.run(
        [_server_python(), "-m", "venv", "--without-pip", str(root / "venv")], check=True
    )
    # the project's pip installs into it, from the wheelhouse only (no index, no user config)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(root / "venv" / "bin" / "python"),
         "install", "-q", "--no-index", "--find-links", str(root / "wheels"), f"{wheel}[testing]"],
        check=True, env={**os.environ, "PIP_CONFIG_FILE": os.devnull}, timeout=300,
    )  # fmt: skip
    (root / "app").mkdir()
    (root / "app" / "wheel_app.py").write_text(textwrap.dedent(APP))
    (root / "schema.sql").write_text(SCHEMA)
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o055)  # the server reads the venv and the app
    return FreshVenv(root / "venv", cwd=root)


@pytest.fixture
def empty_dsn(pg_cluster: Cluster) -> Iterator[str]:
    """A database without motion."""
    name = f"motion_wheel_{uuid.uuid4().hex[:10]}"
    create_database(pg_cluster, name)
    yield pg_cluster.dsn(name)
    drop_database(pg_cluster, name)


def test_wheel_carries_the_package_data(fresh_venv: FreshVenv) -> None:
    files = fresh_venv.run(
        "python", "-c",
        "import motion_pg, motion_pg.queries as q, motion_pg.extension as e, motion_pg.demo as d;"
        "print(motion_pg.__file__, q.sql_dir(), e.control_file(), d.APP, sep='\\n')",
        dsn="",
    ).stdout.split()  # fmt: skip
    assert all(f.startswith(fresh_venv.purelib) for f in files), files
    built = fresh_venv.run("python", "-m", "motion_pg.extension", "build", "ext", dsn="")
    assert "motion.control" in built.stdout and "motion--0.1.sql" in built.stdout


def test_install_create_insert_fit_from_the_wheel(fresh_venv: FreshVenv, empty_dsn: str) -> None:
    app = str(fresh_venv.cwd / "app")
    fresh_venv.run("motion-pg", "install", "--no-extension", "--path", app, dsn=empty_dsn)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        recorded = [
            r[0] for r in conn.execute("SELECT path FROM motion.import_paths ORDER BY position")
        ]
        assert recorded[0] == str(Path(fresh_venv.purelib).resolve()), recorded
        assert app in recorded
        assert not any(p.startswith(str(ROOT)) for p in recorded), recorded
        assert sysconfig.get_paths()["purelib"] not in recorded

        fresh_venv.run("motion-pg", "apply", "schema.sql", dsn=empty_dsn)
        psql(empty_dsn, "INSERT INTO items (value) VALUES (1), (2), (3)")
        assert conn.execute("SELECT count(*) FROM items WHERE seen_version = 1").fetchone() == (3,)
        status = fresh_venv.run("motion-pg", "status", dsn=empty_dsn)
        assert "counter" in status.stdout

        out = fresh_venv.run("motion-pg", "worker", "--once", dsn=empty_dsn)
        assert "1 fit run(s)" in out.stdout, out.stdout
        fitted: dict[str, Any] = state(conn, "counter")
    assert fitted["count"] == 3
    for side in ("backend", "worker"):
        assert fitted[side].startswith(fresh_venv.purelib), (side, fitted[side])


def test_demo_without_its_libraries_says_what_to_install(fresh_venv: FreshVenv) -> None:
    result = fresh_venv.run("motion-pg", "demo", dsn="", check=False)
    assert result.returncode == 1
    assert "pip install 'motion-pg[examples]'" in result.stdout, result.stdout


def test_init_project_tests_pass_with_the_installed_kit(fresh_venv: FreshVenv) -> None:
    # the templates are in the wheel and the pytest11 entry point loads the kit
    fresh_venv.run("motion-pg", "init", "wheel_init", dsn="")
    project = fresh_venv.cwd / "wheel_init"
    for path in [project, *project.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o055)
    plugins = fresh_venv.run(
        "python", "-c",
        "from importlib.metadata import entry_points;"
        "print([e.value for e in entry_points(group='pytest11')])",
        dsn="",
    )  # fmt: skip
    assert "motion_pg.testing" in plugins.stdout
    result = subprocess.run(
        [str(fresh_venv.path / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, capture_output=True, text=True, timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST_"))},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
