"""Lineage lookup: which trigger, version, code and params produced a row's values.

Shown only where the database has ``motion.lineage(relation regclass, key jsonb)``.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from motion_pg.dashboard.db import Db, database
from motion_pg.dashboard.pages import Page
from motion_pg.dashboard.web import config, render


def available(db: Db) -> bool:
    """Whether ``motion.lineage`` exists in this database."""
    row = db.one("lineage_available")
    return bool(row and row["available"])


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, indent=1, default=str)
    return "" if value is None else str(value)


def lookup(request: Request) -> Response:
    """The lookup form, and the lineage of the row it names."""
    relation = request.query_params.get("relation", "").strip()
    key = request.query_params.get("key", "").strip()
    columns: list[str] = []
    rows: list[list[str]] = []
    error = ""
    with database(config(request).dsn, user_path=True) as db:
        if not available(db):
            return render(request, db, "lineage.html", {"missing": True}, status_code=404)
        if relation and key:
            try:
                json.loads(key)
                cur = db.conn.execute(
                    "SELECT * FROM motion.lineage(%s::regclass, %s::jsonb)", [relation, key]
                )
                columns = [d.name for d in cur.description or []]
                rows = [[_cell(v) for v in r] for r in cur.fetchall()]
            except ValueError as e:
                error = f'the key must be JSON, e.g. {{"id": 42}}: {e}'
            except psycopg.Error as e:
                error = e.diag.message_primary or str(e)
        context = {"missing": False, "relation": relation, "key": key, "columns": columns,
                   "rows": rows, "lookup_error": error}  # fmt: skip
        return render(request, db, "lineage.html", context)


page = Page("Lineage", "/lineage", [Route("/lineage", lookup, name="lineage")], available)
