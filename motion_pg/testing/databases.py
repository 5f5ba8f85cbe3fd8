"""Throwaway PostgreSQL for tests: a cluster, a template database with motion installed, clones.

Creating a database from a template copies its files, so a test gets a database with the motion
schema in a few tens of milliseconds, where installing it takes seconds.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import motion_pg
from motion_pg import extension as ext
from motion_pg.embedded import Cluster, bin_path
from motion_pg.install import install

ExtensionMode = Literal["direct", "build"]


class Server(Protocol):
    """A PostgreSQL server tests make databases on: a throwaway :class:`Cluster`, or an
    :class:`ExistingServer`."""

    def dsn(self, dbname: str = ...) -> str:
        """The DSN of database ``dbname`` on this server."""
        ...


class ExistingServer:
    """A server that is already running, given by the DSN of a database on it (``--motion-dsn``):
    tests create (and drop) their databases there; nothing is started or stopped.

    The role needs CREATEDB, and to install motion a superuser (``plpython3u``); the server must
    run on this machine, since it imports the trigger modules from this checkout's paths."""

    def __init__(self, dsn: str) -> None:
        self.admin_dsn = dsn

    def dsn(self, dbname: str = "postgres") -> str:
        """The DSN of database ``dbname``: the given DSN with its database replaced."""
        return make_conninfo(self.admin_dsn, dbname=dbname)

    def describe(self) -> str:
        """Host, port and user of the DSN (never its password), for messages."""
        parts = conninfo_to_dict(self.admin_dsn)
        return ", ".join(
            f"{k}={parts[k]}" for k in ("host", "port", "user", "dbname") if parts.get(k)
        )


def _admin(server: Server) -> str:
    """The DSN to create and drop databases from."""
    return server.admin_dsn if isinstance(server, ExistingServer) else server.dsn("postgres")


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """A PostgreSQL 15 cluster in a new directory, started, and deleted on exit.

    As root the server runs as the ``postgres`` OS user, so the directory is made where that user
    can reach it (not under pytest's private temporary directories).
    """
    root = Path(tempfile.mkdtemp(prefix="motion-pg-test-"))
    root.chmod(0o755)
    cluster = Cluster(root / "cluster", port=0, fast=True)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
        shutil.rmtree(root, ignore_errors=True)


def package_paths(extra: Sequence[str | Path] = ()) -> list[str]:
    """Where the server imports from: the ``motion_pg`` under test first (a checkout or a
    virtualenv's site-packages), the running interpreter's site-packages, then ``extra``."""
    first = str(Path(motion_pg.__file__).resolve().parent.parent)
    paths = [first]
    if sys.prefix != sys.base_prefix:
        paths.append(sysconfig.get_paths()["purelib"])
    paths.extend(str(Path(p).resolve()) for p in extra)
    return list(dict.fromkeys(paths))


def create_database(cluster: Server, name: str, *, template: str | None = None) -> None:
    """Create database ``name``, as a copy of ``template`` when given.

    Copying fails while another session is connected to the template: it is retried briefly.
    """
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    deadline = time.monotonic() + 30
    with psycopg.connect(_admin(cluster), autocommit=True) as admin:
        while True:
            try:
                admin.execute(statement)
                return
            except psycopg.errors.ObjectInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def drop_database(cluster: Server, name: str) -> None:
    """Drop database ``name`` if it exists, disconnecting its sessions (a template too)."""
    with psycopg.connect(_admin(cluster), autocommit=True) as admin:
        ident = sql.Identifier(name)
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists is None:
            return
        admin.execute(sql.SQL("ALTER DATABASE {} WITH is_template false").format(ident))
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def create_template(
    cluster: Server, name: str, paths: Sequence[str], extension: ExtensionMode = "direct"
) -> None:
    """(Re)create template database ``name`` with motion installed, importing from ``paths``.

    ``extension``: ``"direct"`` applies the SQL of the installed motion_pg (it always matches the
    package); ``"build"`` first writes this package's extension files into the server's extension
    directory (when it may) and installs the ``motion`` extension where its files are.
    """
    drop_database(cluster, name)
    create_database(cluster, name)
    if extension == "build":
        with contextlib.suppress(PermissionError):
            ext.build(ext.server_extension_dir(bin_path("pg_config")))
    with psycopg.connect(cluster.dsn(name), autocommit=True) as conn:
        install(conn, list(paths), extension=None if extension == "build" else False)
        conn.execute(
            sql.SQL("ALTER DATABASE {} WITH is_template true").format(sql.Identifier(name))
        )


@contextlib.contextmanager
def cloned_database(cluster: Server, template: str, prefix: str = "motion_test") -> Iterator[str]:
    """A new database copied from ``template`` for the block; yields its DSN, drops it after."""
    import uuid

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    create_database(cluster, name, template=template)
    try:
        yield cluster.dsn(name)
    finally:
        drop_database(cluster, name)


def connect(dsn: str) -> psycopg.Connection[Any]:
    """An autocommit connection (motion statements and the worker see each statement at once)."""
    return psycopg.connect(dsn, autocommit=True)
