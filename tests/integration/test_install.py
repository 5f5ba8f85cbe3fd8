"""`motion-pg install` and the embedded database, for real."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg
import pytest

import motion_pg
from motion_pg.errors import InstallError, MotionError
from motion_pg.install import install

from .conftest import IMPORT_PATHS, ROOT


def test_install_refuses_paths_the_server_cannot_read(conn: psycopg.Connection[Any]) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to make a directory the server's OS user cannot read")
    private = Path(tempfile.mkdtemp(prefix="motion-private-"))  # 0700, owned by root
    try:
        with pytest.raises(InstallError) as info:
            install(conn, [*IMPORT_PATHS, str(private)])
        message = str(info.value)
        assert "cannot read" in message and str(private) in message and "chmod" in message
        # nothing changed: the paths recorded before are still there
        paths = [r[0] for r in conn.execute("SELECT path FROM motion.import_paths")]
        assert str(private) not in paths
    finally:
        private.rmdir()


def test_a_module_the_server_cannot_import_names_module_and_path(
    conn: psycopg.Connection[Any],
) -> None:
    install(conn, IMPORT_PATHS[:2])  # the checkout and the venv only: no test apps
    conn.execute("CREATE TABLE items (id serial PRIMARY KEY, value int)")
    with pytest.raises(MotionError) as info:
        motion_pg.execute(
            conn, "CREATE MOTION TRIGGER t ON items USING 'motion_test_apps.basic:Counter'"
        )
    message = str(info.value)
    assert "module 'motion_test_apps.basic' not found" in message
    assert IMPORT_PATHS[0] in message and "motion-pg install --path" in message


def test_embedded_database_up_url_psql_down() -> None:
    home = Path(tempfile.mkdtemp(prefix="motion-home-"))
    home.chmod(0o755)
    env = {**os.environ, "MOTION_HOME": str(home / ".motion")}
    env.pop("MOTION_DSN", None)
    env.pop("DATABASE_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "motion_pg.cli", *args],
            env=env, capture_output=True, text=True, timeout=120, cwd=ROOT,
        )  # fmt: skip

    try:
        assert cli("url").returncode != 0  # nothing yet, and it says so
        up = cli("up")
        assert up.returncode == 0, up.stderr
        url = cli("url").stdout.strip()
        assert url.startswith("postgresql://postgres:") and "@127.0.0.1:" in url
        out = cli("psql", "-XAtc", "SHOW listen_addresses")
        assert out.stdout.strip() == "127.0.0.1", out.stderr
        assert cli("up").returncode == 0  # idempotent
        installed = cli("install", "--path", IMPORT_PATHS[0])
        assert installed.returncode == 0, installed.stderr
        status = cli("status")
        assert status.returncode == 0, status.stderr
        assert cli("down").returncode == 0
        stopped = cli("status")
        assert stopped.returncode != 0 and "motion-pg up" in stopped.stderr
    finally:
        cli("down", "--destroy")
        subprocess.run(["rm", "-rf", str(home)], check=False)
