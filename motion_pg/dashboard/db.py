"""The dashboard's database access: one short connection per request, and its named queries."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from motion_pg.pg import MOTION_OPTIONS, PgDatabase, connect

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
# pages only read: a GET can never change the database, whatever a page's code does
READ_ONLY = f"{MOTION_OPTIONS} -c default_transaction_read_only=on"


@functools.cache
def _queries() -> dict[str, str]:
    text = (Path(__file__).parent / "queries.sql").read_text(encoding="utf-8")
    parts = _NAME.split(text)
    found: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [ln for ln in body.strip().splitlines() if not ln.lstrip().startswith("--")]
        found[name] = "\n".join(lines)
    return found


def dashboard_query(name: str) -> str:
    """The dashboard's named query ``name`` (motion_pg/dashboard/queries.sql)."""
    return _queries()[name]


class Db:
    """A connection for one request, with helpers for named queries."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.pg = PgDatabase(conn)

    def rows(self, name: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """The rows of the dashboard's named query ``name``."""
        return self.pg.query(dashboard_query(name), params)

    def one(self, name: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        """The first row of the dashboard's named query ``name``, if any."""
        found = self.rows(name, params)
        return found[0] if found else None


@contextmanager
def database(dsn: str, *, write: bool = False, user_path: bool = False) -> Iterator[Db]:
    """A connection to ``dsn`` for one request: read-only unless ``write``; with motion's pinned
    search_path unless ``user_path`` (to resolve relation names as a user writes them)."""
    options = READ_ONLY if not write else MOTION_OPTIONS
    if user_path:
        options = options.replace(MOTION_OPTIONS, "").strip()
    with connect(dsn, options=options) as conn:
        yield Db(conn)
