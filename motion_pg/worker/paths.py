"""Importing user modules from the paths ``install`` recorded, as the database server does."""

from __future__ import annotations

import site
import sys
from collections.abc import Iterable

import psycopg

from motion_pg.errors import InstallError
from motion_pg.pg import PgDatabase

# the paths this process imports user code from, in order (a Ray task imports from the same ones)
PREPENDED: list[str] = []


def recorded_paths(conn: psycopg.Connection[object]) -> list[str]:
    """The import paths recorded in the database (``motion-pg install --path``)."""
    try:
        rows = PgDatabase(conn).query("SELECT path FROM motion.import_paths ORDER BY position")
    except psycopg.errors.UndefinedTable:
        raise InstallError(
            "motion_pg is not installed in this database", hint="run `motion-pg install` first"
        ) from None
    return [str(r["path"]) for r in rows]


def prepend_paths(paths: Iterable[str]) -> None:
    """Put ``paths`` (with their .pth files) in front of ``sys.path``."""
    paths = list(paths)
    PREPENDED[:] = [*paths, *(p for p in PREPENDED if p not in paths)]
    before = list(sys.path)
    for p in paths:
        site.addsitedir(p)
    sys.path[:] = [p for p in sys.path if p not in before] + before
