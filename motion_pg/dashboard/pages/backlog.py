"""Backlog: every trigger's fit queue (pending, running, dead, the oldest pending event's age), what
backpressure discarded (``discard_after``, ``keep_latest``), async rows waiting for infer, and a
chart of each trigger's backlog over the chosen window."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from motion_pg.dashboard import charts
from motion_pg.dashboard.db import Db, database
from motion_pg.dashboard.pages import Page
from motion_pg.dashboard.pages.trigger import WINDOWS, backlog_chart
from motion_pg.dashboard.web import config, render
from motion_pg.queries import query

CHARTS = 12  # triggers charted at most: the ones with the most waiting events first


def rows(db: Db) -> list[dict[str, Any]]:
    """One row per trigger: queue figures, discards and async rows waiting."""
    discards = {r["name"]: r for r in db.pg.query(query("backlog_status"))}
    waiting = {r["name"]: r for r in db.pg.query(query("async_metrics"))}
    found = []
    for r in db.pg.query(query("status")):
        d, w = discards.get(r["name"], {}), waiting.get(r["name"])
        found.append({
            "name": r["name"], "pending": r["pending"], "running": r["running"], "dead": r["dead"],
            "oldest": charts.seconds_label(r["oldest_pending_s"]) if r["oldest_pending_s"] else "-",
            "discard_after": d.get("discard_after"), "keep_latest": d.get("keep_latest"),
            "too_old": d.get("discarded_too_old", 0),
            "beyond_latest": d.get("discarded_beyond_latest", 0),
            "last_discard": d.get("last_discard_at"),
            "async_pending": w["pending"] if w else None,
            "async_oldest": charts.seconds_label(w["oldest_pending_s"]) if w else "-",
        })  # fmt: skip
    return found


def backlog_page(request: Request) -> Response:
    """Every trigger's backlog."""
    window = request.query_params.get("window", "1h")
    seconds = WINDOWS.get(window, 3600)
    with database(config(request).dsn) as db:
        found = rows(db)
        busiest = sorted(found, key=lambda r: -(r["pending"] + r["running"]))[:CHARTS]
        chart_list = [(r["name"], backlog_chart(db, r["name"], seconds)) for r in busiest]
        context = {"rows": found, "charts": chart_list, "windows": list(WINDOWS),
                   "window": window if window in WINDOWS else "1h"}  # fmt: skip
        return render(request, db, "backlog.html", context)


page = Page("Backlog", "/backlog", [Route("/backlog", backlog_page, name="backlog")])
