"""What a connection sent while an action ran, read from libpq's protocol trace."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import pq


def sent(conn: psycopg.Connection[Any], action: Callable[[], Any]) -> list[list[str]]:
    """The frontend messages ``conn`` sent while ``action`` ran, each as its trace fields
    (message type at index 2, then its contents)."""
    with tempfile.TemporaryFile() as f:
        conn.pgconn.trace(f.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            action()
        finally:
            conn.pgconn.untrace()
        f.seek(0)
        lines = f.read().decode().splitlines()
    return [f for f in (line.split("\t") for line in lines) if len(f) > 2 and f[0] == "F"]
