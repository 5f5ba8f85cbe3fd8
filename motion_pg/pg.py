"""Client-side database access with psycopg: connecting, and ``ctx.db`` for fit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from motion_pg.errors import MotionError

# motion's own connections (worker, heartbeat, listener) run only motion's statements: their
# meaning never depends on a search_path the database or role sets by default
MOTION_OPTIONS = "-c search_path=pg_catalog,pg_temp"


def connect(dsn: str, *, autocommit: bool = True, **kwargs: Any) -> psycopg.Connection[Any]:
    """A connection to ``dsn``; connection failures become a :class:`MotionError` naming the dsn."""
    try:
        return psycopg.connect(dsn, autocommit=autocommit, **kwargs)
    except psycopg.OperationalError as e:
        raise MotionError(
            f"cannot connect to {_redact(dsn)}: {str(e).strip()}",
            hint="start the embedded database with `motion-pg up`, or pass --dsn / MOTION_DSN",
        ) from e


def _redact(dsn: str) -> str:
    import re

    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", dsn)


def _adapt(value: Any) -> Any:
    if isinstance(value, dict) or (
        isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
    ):
        return Jsonb(value)
    return value


class PgDatabase:
    """A :class:`motion_pg.trigger.Database` over a psycopg connection; placeholders ``$1, $2``."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with psycopg.RawCursor(self.conn, row_factory=dict_row) as cur:
            cur.execute(sql, [_adapt(p) for p in params])
            return cur.fetchall() if cur.description is not None else []
