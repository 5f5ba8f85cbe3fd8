"""``motion-pg install``: put the motion schema into a database and tell its server where to import
motion_pg and the application's trigger modules from."""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg

from motion_pg.errors import InstallError
from motion_pg.queries import read_sql


def default_paths() -> list[str]:
    """The active virtualenv's site-packages (if any) and the current directory."""
    paths: list[str] = []
    if sys.prefix != sys.base_prefix:
        paths.append(sysconfig.get_paths()["purelib"])
    paths.append(os.getcwd())
    return paths


def install(conn: psycopg.Connection[Any], paths: Sequence[str] | None = None) -> list[str]:
    """Install or update the motion schema in ``conn``'s database; returns the recorded paths.

    Everything happens in one transaction: when the server cannot read a path or import motion_pg
    from them, nothing is changed.
    """
    recorded = [str(Path(p).resolve()) for p in (paths if paths else default_paths())]
    with conn.transaction():
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS plpython3u")
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.errors.InsufficientPrivilege as e:
            raise InstallError(
                f"cannot install motion_pg: {e.diag.message_primary}",
                hint="connect as a superuser: motion_pg creates untrusted-language functions",
            ) from e
        except psycopg.Error as e:
            raise InstallError(
                f"cannot create the extensions motion_pg needs: {e.diag.message_primary}",
                hint="install postgresql-plpython3-15 and pgvector on the database server "
                "(`make setup` does both on this machine)",
            ) from e
        installed = conn.execute("SELECT to_regclass('motion.triggers') IS NOT NULL").fetchone()
        if not (installed and installed[0]):
            conn.execute(read_sql("schema.sql"))
        try:
            # runs in the server's Python as the server's OS user: the honest test of what it reads
            conn.execute("SELECT motion.check_import_paths(%s)", [recorded])
        except psycopg.Error as e:
            raise InstallError(e.diag.message_primary or str(e), hint=e.diag.message_hint) from e
        conn.execute("DELETE FROM motion.import_paths")
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO motion.import_paths (position, path) VALUES (%s, %s)",
                list(enumerate(recorded)),
            )
        try:
            conn.execute("SELECT motion._bootstrap()")
        except psycopg.Error as e:
            raise InstallError(
                e.diag.message_primary or str(e),
                hint="\n".join(filter(None, [e.diag.message_detail, e.diag.message_hint])),
            ) from e
    return recorded
