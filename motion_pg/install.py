"""``motion-pg install``: put the motion schema into a database and tell its server where to import
motion_pg and the application's trigger modules from."""

from __future__ import annotations

import os
import sys
import sysconfig
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psycopg

from motion_pg import extension as ext
from motion_pg.errors import InstallError
from motion_pg.managed_schema import choose_mode, install_managed


def default_paths(extra: Sequence[str] = ()) -> list[str]:
    """The active virtualenv's site-packages (where motion_pg itself is), then ``extra`` — or the
    current directory when there is none."""
    paths: list[str] = []
    if sys.prefix != sys.base_prefix:
        paths.append(sysconfig.get_paths()["purelib"])
    paths.extend(extra or [os.getcwd()])
    return paths


def install(
    conn: psycopg.Connection[Any],
    paths: Sequence[str] | None = None,
    *,
    extension: bool | None = None,
    mode: str = "auto",
    notice: Callable[[str], None] | None = None,
) -> list[str]:
    """Install or upgrade the motion schema in ``conn``'s database; returns the recorded paths.

    ``extension``: ``True`` installs the ``motion`` extension (its files must be on the server,
    ``make install-extension``), ``False`` applies the same SQL directly, ``None`` (default) uses
    the extension when its files are present. An existing install is upgraded the way it was made.
    Everything happens in one transaction: when the server cannot read a path or import motion_pg
    from them, nothing is changed.
    """
    recorded = [str(Path(p).resolve()) for p in (paths if paths else default_paths())]
    with conn.transaction():
        if choose_mode(conn, mode, notice) == "managed":
            install_managed(conn)
            record_paths(conn, recorded)
            return recorded
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
        _install_schema(conn, extension)
        try:
            # runs in the server's Python as the server's OS user: the honest test of what it reads
            conn.execute("SELECT motion.check_import_paths(%s)", [recorded])
        except psycopg.Error as e:
            raise InstallError(e.diag.message_primary or str(e), hint=e.diag.message_hint) from e
        record_paths(conn, recorded)
        try:
            conn.execute("SELECT motion._bootstrap()")
        except psycopg.Error as e:
            raise InstallError(
                e.diag.message_primary or str(e),
                hint="\n".join(filter(None, [e.diag.message_detail, e.diag.message_hint])),
            ) from e
    return recorded


def record_paths(conn: psycopg.Connection[Any], recorded: Sequence[str]) -> None:
    """Record where the server (and, by default, the worker) imports Python from."""
    conn.execute("DELETE FROM motion.import_paths")
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO motion.import_paths (position, path) VALUES (%s, %s)",
            list(enumerate(recorded)),
        )


def _scalar(conn: psycopg.Connection[Any], query: str) -> Any:
    row = conn.execute(query).fetchone()
    return row[0] if row else None


def installed_version(conn: psycopg.Connection[Any]) -> tuple[str | None, bool]:
    """The motion schema release in the database (``None`` if absent), and whether it is an
    extension."""
    version = _scalar(
        conn, "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'motion'"
    )
    if version is not None:
        return str(version), True
    if not _scalar(conn, "SELECT to_regclass('motion.triggers') IS NOT NULL"):
        return None, False
    if _scalar(conn, "SELECT to_regprocedure('motion.schema_version()') IS NOT NULL"):
        return str(_scalar(conn, "SELECT motion.schema_version()")), False
    return "0.1", False  # the first release had no schema_version()


def _install_schema(conn: psycopg.Connection[Any], extension: bool | None) -> None:
    version, is_extension = installed_version(conn)
    available = bool(
        _scalar(
            conn, "SELECT count(*) FROM pg_catalog.pg_available_extensions WHERE name = 'motion'"
        )
    )
    if version is None:
        if extension is None:
            extension = available
        if extension and not available:
            raise InstallError(
                "the motion extension's files are not installed on the database server",
                hint="run `make install-extension` on the server, or install without the extension",
            )
        if extension:
            conn.execute("CREATE EXTENSION motion")
        else:
            conn.execute(ext.full_script(ext.current_version(), "direct"))
        return
    if is_extension:
        conn.execute("ALTER EXTENSION motion UPDATE")
        return
    for source, target in ext.upgrade_path(version):
        conn.execute(ext.upgrade_script(source, target, "direct"))
